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
    __slots__ = ("sender_id", "generation", "fingerprint", "num_params", "codec", "payload_bytes", "chunk_bytes", "step", "sender_address")
    SENDER_ID_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    NUM_PARAMS_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_BYTES_FIELD_NUMBER: _ClassVar[int]
    CHUNK_BYTES_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    SENDER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    sender_id: str
    generation: int
    fingerprint: str
    num_params: int
    codec: str
    payload_bytes: int
    chunk_bytes: int
    step: int
    sender_address: str
    def __init__(self, sender_id: _Optional[str] = ..., generation: _Optional[int] = ..., fingerprint: _Optional[str] = ..., num_params: _Optional[int] = ..., codec: _Optional[str] = ..., payload_bytes: _Optional[int] = ..., chunk_bytes: _Optional[int] = ..., step: _Optional[int] = ..., sender_address: _Optional[str] = ...) -> None: ...

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
    __slots__ = ("id", "address", "generation", "heartbeat", "state")
    ID_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    GENERATION_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    id: str
    address: str
    generation: int
    heartbeat: int
    state: MemberState
    def __init__(self, id: _Optional[str] = ..., address: _Optional[str] = ..., generation: _Optional[int] = ..., heartbeat: _Optional[int] = ..., state: _Optional[_Union[MemberState, str]] = ...) -> None: ...

class Digest(_message.Message):
    __slots__ = ("sender_id", "entries")
    SENDER_ID_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    sender_id: str
    entries: _containers.RepeatedCompositeFieldContainer[MemberEntry]
    def __init__(self, sender_id: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[MemberEntry, _Mapping]]] = ...) -> None: ...

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
    __slots__ = ("sent", "received")
    SENT_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_FIELD_NUMBER: _ClassVar[int]
    sent: int
    received: int
    def __init__(self, sent: _Optional[int] = ..., received: _Optional[int] = ...) -> None: ...

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
    __slots__ = ("id", "address", "generation", "uptime_s", "step", "loss", "has_accuracy", "accuracy", "exchanges", "bytes", "model", "compression", "members", "metric_name", "metric", "dataset", "samples_seen", "state")
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
    def __init__(self, id: _Optional[str] = ..., address: _Optional[str] = ..., generation: _Optional[int] = ..., uptime_s: _Optional[float] = ..., step: _Optional[int] = ..., loss: _Optional[float] = ..., has_accuracy: _Optional[bool] = ..., accuracy: _Optional[float] = ..., exchanges: _Optional[_Union[ExchangeCounts, _Mapping]] = ..., bytes: _Optional[_Union[ByteCounts, _Mapping]] = ..., model: _Optional[_Union[ModelInfo, _Mapping]] = ..., compression: _Optional[str] = ..., members: _Optional[_Iterable[_Union[MemberStatus, _Mapping]]] = ..., metric_name: _Optional[str] = ..., metric: _Optional[float] = ..., dataset: _Optional[str] = ..., samples_seen: _Optional[int] = ..., state: _Optional[str] = ...) -> None: ...
