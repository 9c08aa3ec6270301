from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MemberState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEMBER_STATE_UNSPECIFIED: _ClassVar[MemberState]
    MEMBER_STATE_ALIVE: _ClassVar[MemberState]
    MEMBER_STATE_SUSPECT: _ClassVar[MemberState]
    MEMBER_STATE_DEAD: _ClassVar[MemberState]
    MEMBER_STATE_LEFT: _ClassVar[MemberState]
MEMBER_STATE_UNSPECIFIED: MemberState
MEMBER_STATE_ALIVE: MemberState
MEMBER_STATE_SUSPECT: MemberState
MEMBER_STATE_DEAD: MemberState
MEMBER_STATE_LEFT: MemberState

class SnapshotHeader(_message.Message):
    __slots__ = ("sender_id", "generation", "fingerprint", "num_params", "codec", "payload_bytes", "chunk_bytes", "step", "sender_address", "codec_seed", "ref_version", "ref_base", "blocks", "block_ids", "consensus_step", "payload", "free_speed", "normalizer", "normalizer_offset", "ref_chain")
    SENDER_ID_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    NUM_PARAMS_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    SENDER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    CODEC_SEED_FIELD_NUMBER: _ClassVar[int]
    REF_VERSION_FIELD_NUMBER: _ClassVar[int]
    REF_BASE_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_FIELD_NUMBER: _ClassVar[int]
    BLOCK_IDS_FIELD_NUMBER: _ClassVar[int]
    CONSENSUS_STEP_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    FREE_SPEED_FIELD_NUMBER: _ClassVar[int]
    NORMALIZER_FIELD_NUMBER: _ClassVar[int]
    NORMALIZER_OFFSET_FIELD_NUMBER: _ClassVar[int]
    REF_CHAIN_FIELD_NUMBER: _ClassVar[int]
    sender_id: str
    generation: int
    fingerprint: str
    num_params: int
    codec: str
    payload_bytes: int
    chunk_bytes: int
    step: int
    sender_address: str
    codec_seed: int
    ref_version: int
    ref_base: int
    blocks: int
    block_ids: _containers.RepeatedScalarFieldContainer[int]
    consensus_step: float
    payload: bytes
    free_speed: float
    normalizer: bytes
    normalizer_offset: int
    ref_chain: int
    def __init__(self, sender_id: _Optional[str] = ..., generation: _Optional[int] = ..., fingerprint: _Optional[str] = ..., num_params: _Optional[int] = ..., codec: _Optional[str] = ..., payload_bytes: _Optional[int] = ..., chunk_bytes: _Optional[int] = ..., step: _Optional[int] = ..., sender_address: _Optional[str] = ..., codec_seed: _Optional[int] = ..., ref_version: _Optional[int] = ..., ref_base: _Optional[int] = ..., blocks: _Optional[int] = ..., block_ids: _Optional[_Iterable[int]] = ..., consensus_step: _Optional[float] = ..., payload: _Optional[bytes] = ..., free_speed: _Optional[float] = ..., normalizer: _Optional[bytes] = ..., normalizer_offset: _Optional[int] = ..., ref_chain: _Optional[int] = ...) -> None: ...

class Verdict(_message.Message):
    __slots__ = ("applied", "reason", "detail")
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    applied: bool
    reason: str
    detail: str
    def __init__(self, applied: _Optional[bool] = ..., reason: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("header", "chunk", "verdict")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    header: SnapshotHeader
    chunk: bytes
    verdict: Verdict
    def __init__(self, header: _Optional[_Union[SnapshotHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ..., verdict: _Optional[_Union[Verdict, _Mapping]] = ...) -> None: ...

class MemberEntry(_message.Message):
    __slots__ = ("id", "address", "generation", "heartbeat", "state", "beat")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    BEAT_FIELD_NUMBER: _ClassVar[int]
    id: str
    address: str
    generation: int
    heartbeat: int
    state: MemberState
    beat: int
    def __init__(self, id: _Optional[str] = ..., address: _Optional[str] = ..., generation: _Optional[int] = ..., heartbeat: _Optional[int] = ..., state: _Optional[_Union[MemberState, str]] = ..., beat: _Optional[int] = ...) -> None: ...

class Digest(_message.Message):
    __slots__ = ("sender_id", "entries", "full", "relay_id", "relay_address", "relay_ok")
    SENDER_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    FULL_FIELD_NUMBER: _ClassVar[int]
    RELAY_ID_FIELD_NUMBER: _ClassVar[int]
    RELAY_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    RELAY_OK_FIELD_NUMBER: _ClassVar[int]
    sender_id: str
    entries: _containers.RepeatedCompositeFieldContainer[MemberEntry]
    full: bool
    relay_id: str
    relay_address: str
    relay_ok: bool
    def __init__(self, sender_id: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[MemberEntry, _Mapping]]] = ..., full: _Optional[bool] = ..., relay_id: _Optional[str] = ..., relay_address: _Optional[str] = ..., relay_ok: _Optional[bool] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExchangeCounts(_message.Message):
    __slots__ = ("ok", "failed", "refused")
    OK_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    REFUSED_FIELD_NUMBER: _ClassVar[int]
    ok: int
    failed: int
    refused: int
    def __init__(self, ok: _Optional[int] = ..., failed: _Optional[int] = ..., refused: _Optional[int] = ...) -> None: ...

class ByteCounts(_message.Message):
    __slots__ = ("sent", "received", "by_codec")
    SENT_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    BY_CODEC_FIELD_NUMBER: _ClassVar[int]
    sent: int
    received: int
    by_codec: _containers.RepeatedCompositeFieldContainer[CodecBytes]
    def __init__(self, sent: _Optional[int] = ..., received: _Optional[int] = ..., by_codec: _Optional[_Iterable[_Union[CodecBytes, _Mapping]]] = ...) -> None: ...

class CodecBytes(_message.Message):
    __slots__ = ("codec", "sent", "received")
    CODEC_FIELD_NUMBER: _ClassVar[int]
    SENT_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    codec: str
    sent: int
    received: int
    def __init__(self, codec: _Optional[str] = ..., sent: _Optional[int] = ..., received: _Optional[int] = ...) -> None: ...

class ReferenceInfo(_message.Message):
    __slots__ = ("count", "bytes", "max_count", "evictions", "resets", "consensus_step")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_COUNT_FIELD_NUMBER: _ClassVar[int]
    EVICTIONS_FIELD_NUMBER: _ClassVar[int]
    RESETS_FIELD_NUMBER: _ClassVar[int]
    CONSENSUS_STEP_FIELD_NUMBER: _ClassVar[int]
    count: int
    bytes: int
    max_count: int
    evictions: int
    resets: int
    consensus_step: float
    def __init__(self, count: _Optional[int] = ..., bytes: _Optional[int] = ..., max_count: _Optional[int] = ..., evictions: _Optional[int] = ..., resets: _Optional[int] = ..., consensus_step: _Optional[float] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("params", "fingerprint")
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    params: int
    fingerprint: str
    def __init__(self, params: _Optional[int] = ..., fingerprint: _Optional[str] = ...) -> None: ...

class MemberStatus(_message.Message):
    __slots__ = ("id", "address", "state", "generation", "last_heard_s")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARD_S_FIELD_NUMBER: _ClassVar[int]
    id: str
    address: str
    state: MemberState
    generation: int
    last_heard_s: float
    def __init__(self, id: _Optional[str] = ..., address: _Optional[str] = ..., state: _Optional[_Union[MemberState, str]] = ..., generation: _Optional[int] = ..., last_heard_s: _Optional[float] = ...) -> None: ...

class StatusReply(_message.Message):
    __slots__ = ("id", "address", "generation", "uptime_s", "step", "loss", "has_accuracy", "accuracy", "exchanges", "bytes", "model", "compression", "members", "metric_name", "metric", "dataset", "samples_seen", "state", "references", "protection", "recovery", "schedule")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    UPTIME_S_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    HAS_ACCURACY_FIELD_NUMBER: _ClassVar[int]
    ACCURACY_FIELD_NUMBER: _ClassVar[int]
    EXCHANGES_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    MEMBERS_FIELD_NUMBER: _ClassVar[int]
    METRIC_NAME_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    DATASET_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_SEEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REFERENCES_FIELD_NUMBER: _ClassVar[int]
    PROTECTION_FIELD_NUMBER: _ClassVar[int]
    RECOVERY_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    id: str
    address: str
    generation: int
    uptime_s: float
    step: int
    loss: float
    has_accuracy: bool
    accuracy: float
    exchanges: ExchangeCounts
    bytes: ByteCounts
    model: ModelInfo
    compression: str
    members: _containers.RepeatedCompositeFieldContainer[MemberStatus]
    metric_name: str
    metric: float
    dataset: str
    samples_seen: int
    state: str
    references: ReferenceInfo
    protection: Protection
    recovery: Recovery
    schedule: Schedule
    def __init__(self, id: _Optional[str] = ..., address: _Optional[str] = ..., generation: _Optional[int] = ..., uptime_s: _Optional[float] = ..., step: _Optional[int] = ..., loss: _Optional[float] = ..., has_accuracy: _Optional[bool] = ..., accuracy: _Optional[float] = ..., exchanges: _Optional[_Union[ExchangeCounts, _Mapping]] = ..., bytes: _Optional[_Union[ByteCounts, _Mapping]] = ..., model: _Optional[_Union[ModelInfo, _Mapping]] = ..., compression: _Optional[str] = ..., members: _Optional[_Iterable[_Union[MemberStatus, _Mapping]]] = ..., metric_name: _Optional[str] = ..., metric: _Optional[float] = ..., dataset: _Optional[str] = ..., samples_seen: _Optional[int] = ..., state: _Optional[str] = ..., references: _Optional[_Union[ReferenceInfo, _Mapping]] = ..., protection: _Optional[_Union[Protection, _Mapping]] = ..., recovery: _Optional[_Union[Recovery, _Mapping]] = ..., schedule: _Optional[_Union[Schedule, _Mapping]] = ...) -> None: ...

class Schedule(_message.Message):
    __slots__ = ("local_steps", "has_steps_per_exchange", "steps_per_exchange", "completed", "waits", "waiting_s", "in_flight")
    LOCAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    HAS_STEPS_PER_EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    STEPS_PER_EXCHANGE_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    WAITS_FIELD_NUMBER: _ClassVar[int]
    WAITING_S_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    local_steps: int
    has_steps_per_exchange: bool
    steps_per_exchange: float
    completed: int
    waits: int
    waiting_s: float
    in_flight: int
    def __init__(self, local_steps: _Optional[int] = ..., has_steps_per_exchange: _Optional[bool] = ..., steps_per_exchange: _Optional[float] = ..., completed: _Optional[int] = ..., waits: _Optional[int] = ..., waiting_s: _Optional[float] = ..., in_flight: _Optional[int] = ...) -> None: ...

class QuarantinedPeer(_message.Message):
    __slots__ = ("id", "remaining_s", "reason", "strikes")
    ID_FIELD_NUMBER: _ClassVar[int]
    REMAINING_S_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    STRIKES_FIELD_NUMBER: _ClassVar[int]
    id: str
    remaining_s: float
    reason: str
    strikes: int
    def __init__(self, id: _Optional[str] = ..., remaining_s: _Optional[float] = ..., reason: _Optional[str] = ..., strikes: _Optional[int] = ...) -> None: ...

class RefusalCount(_message.Message):
    __slots__ = ("reason", "count")
    REASON_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    reason: str
    count: int
    def __init__(self, reason: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class Protection(_message.Message):
    __slots__ = ("quarantined", "quarantines", "clipped", "unauthenticated", "limited", "refusals", "malformed")
    QUARANTINED_FIELD_NUMBER: _ClassVar[int]
    QUARANTINES_FIELD_NUMBER: _ClassVar[int]
    CLIPPED_FIELD_NUMBER: _ClassVar[int]
    UNAUTHENTICATED_FIELD_NUMBER: _ClassVar[int]
    LIMITED_FIELD_NUMBER: _ClassVar[int]
    REFUSALS_FIELD_NUMBER: _ClassVar[int]
    MALFORMED_FIELD_NUMBER: _ClassVar[int]
    quarantined: _containers.RepeatedCompositeFieldContainer[QuarantinedPeer]
    quarantines: int
    clipped: int
    unauthenticated: int
    limited: int
    refusals: _containers.RepeatedCompositeFieldContainer[RefusalCount]
    malformed: int
    def __init__(self, quarantined: _Optional[_Iterable[_Union[QuarantinedPeer, _Mapping]]] = ..., quarantines: _Optional[int] = ..., clipped: _Optional[int] = ..., unauthenticated: _Optional[int] = ..., limited: _Optional[int] = ..., refusals: _Optional[_Iterable[_Union[RefusalCount, _Mapping]]] = ..., malformed: _Optional[int] = ...) -> None: ...

class Recovery(_message.Message):
    __slots__ = ("resumed", "resumed_step", "checkpoints_saved", "checkpoints_skipped", "last_checkpoint_step", "catchup_state", "catchup_donor", "catchup_step", "catchup_s", "fetches_served")
    RESUMED_FIELD_NUMBER: _ClassVar[int]
    RESUMED_STEP_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTS_SAVED_FIELD_NUMBER: _ClassVar[int]
    CHECKPOINTS_SKIPPED_FIELD_NUMBER: _ClassVar[int]
    LAST_CHECKPOINT_STEP_FIELD_NUMBER: _ClassVar[int]
    CATCHUP_STATE_FIELD_NUMBER: _ClassVar[int]
    CATCHUP_DONOR_FIELD_NUMBER: _ClassVar[int]
    CATCHUP_STEP_FIELD_NUMBER: _ClassVar[int]
    CATCHUP_S_FIELD_NUMBER: _ClassVar[int]
    FETCHES_SERVED_FIELD_NUMBER: _ClassVar[int]
    resumed: bool
    resumed_step: int
    checkpoints_saved: int
    checkpoints_skipped: int
    last_checkpoint_step: int
    catchup_state: str
    catchup_donor: str
    catchup_step: int
    catchup_s: float
    fetches_served: int
    def __init__(self, resumed: _Optional[bool] = ..., resumed_step: _Optional[int] = ..., checkpoints_saved: _Optional[int] = ..., checkpoints_skipped: _Optional[int] = ..., last_checkpoint_step: _Optional[int] = ..., catchup_state: _Optional[str] = ..., catchup_donor: _Optional[str] = ..., catchup_step: _Optional[int] = ..., catchup_s: _Optional[float] = ..., fetches_served: _Optional[int] = ...) -> None: ...

class FetchRequest(_message.Message):
    __slots__ = ("requester_id", "fingerprint", "num_params", "min_step")
    REQUESTER_ID_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    NUM_PARAMS_FIELD_NUMBER: _ClassVar[int]
    MIN_STEP_FIELD_NUMBER: _ClassVar[int]
    requester_id: str
    fingerprint: str
    num_params: int
    min_step: int
    def __init__(self, requester_id: _Optional[str] = ..., fingerprint: _Optional[str] = ..., num_params: _Optional[int] = ..., min_step: _Optional[int] = ...) -> None: ...

class FetchDone(_message.Message):
    __slots__ = ("ahead", "sha256", "step")
    AHEAD_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    ahead: bool
    sha256: bytes
    step: int
    def __init__(self, ahead: _Optional[bool] = ..., sha256: _Optional[bytes] = ..., step: _Optional[int] = ...) -> None: ...

class FetchFrame(_message.Message):
    __slots__ = ("header", "chunk", "done")
    HEADER_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    header: SnapshotHeader
    chunk: bytes
    done: FetchDone
    def __init__(self, header: _Optional[_Union[SnapshotHeader, _Mapping]] = ..., chunk: _Optional[bytes] = ..., done: _Optional[_Union[FetchDone, _Mapping]] = ...) -> None: ...
