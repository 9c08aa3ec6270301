"""``--compression SPEC``: parse a codec spec, and find the codec a header names.

``SPEC`` is ``auto`` (:func:`resolve`) or ``[blocks:K+]CODEC`` with CODEC one of
``none``, ``fp16``, ``int8``,
``sign``, ``topk:FRACTION[:sign]`` (``:sign``: signs of the kept values only),
``randk:FRACTION``, ``qsgd:LEVELS``; ``blocks:K``
cuts the parameter vector into K contiguous blocks of which one exchange
carries one, chosen per exchange by the initiator.
"""

from __future__ import annotations

from dataclasses import dataclass

from gossip.compression.base import Codec
from gossip.compression.fp16 import Fp16Codec
from gossip.compression.int8 import Int8Codec
from gossip.compression.none import NoCodec
from gossip.compression.qsgd import MAX_LEVELS, QsgdCodec
from gossip.compression.randk import RandkCodec
from gossip.compression.sign import SignCodec
from gossip.compression.topk import TopkCodec
from gossip.errors import ExchangeRefused, UsageError

VALID_FORMS = (
    "auto, none, fp16, int8, sign, topk:FRACTION[:sign], randk:FRACTION, qsgd:LEVELS, "
    "optionally prefixed by blocks:K+ (e.g. blocks:4+topk:0.01)"
)
MAX_BLOCKS = 1 << 16
AUTO = "auto"
INT8_UP_TO_PARAMS = 262_144
"""``auto`` sends ``int8`` up to this many parameters (256 KiB a message), ``sign`` above.

Below it an exchange's cost is mostly its fixed part (about 4 ms of CPU for
gRPC's Python streams; 256 KiB take 2 ms on a 1 Gbit/s link), so sending 7
times fewer bytes saves little time, while ``sign``'s coarser averaging costs
accuracy on skewed shards: 8 paced peers on ``clusters`` (4,394 parameters)
with dirichlet:0.5 ended 1.4-2.7 points under synchronous Adam with int8,
1.4-2.8 with float32 and 2.8-3.7 with ``sign`` (a lockstep simulation of the
same: 1.47, 1.47 and 2.85). Above it the bytes dominate."""


def resolve(text: str, num_params: int) -> str:
    """The spec ``auto`` stands for with ``num_params`` parameters; any other spec as given."""
    if text.strip() != AUTO:
        return text
    return "int8" if num_params <= INT8_UP_TO_PARAMS else "sign"


@dataclass(frozen=True)
class CompressionSpec:
    """A parsed ``--compression`` value."""

    codec: Codec
    blocks: int = 1

    @property
    def text(self) -> str:
        prefix = f"blocks:{self.blocks}+" if self.blocks > 1 else ""
        return prefix + self.codec.name


def _fraction(text: str, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{name}:FRACTION needs 0 < FRACTION <= 1, got {text!r}")
    return value


def codec_from_name(name: str) -> Codec:
    """The codec a canonical name denotes; ValueError with the reason otherwise."""
    kind, sep, arg = name.partition(":")
    if not sep and kind in ("none", "fp16", "int8", "sign"):
        codecs: dict[str, Codec] = {
            "none": NoCodec(),
            "fp16": Fp16Codec(),
            "int8": Int8Codec(),
            "sign": SignCodec(),
        }
        return codecs[kind]
    if sep and kind == "topk":
        fraction, colon, values = arg.partition(":")
        if colon and values != "sign":
            raise ValueError(f"topk:FRACTION:VALUES needs VALUES sign, got {values!r}")
        return TopkCodec(_fraction(fraction, kind), signs=bool(colon))
    if sep and kind == "randk":
        return RandkCodec(_fraction(arg, kind))
    if sep and kind == "qsgd":
        if not arg.isdigit() or not 1 <= int(arg) <= MAX_LEVELS:
            raise ValueError(f"qsgd:LEVELS needs an integer 1..{MAX_LEVELS}, got {arg!r}")
        return QsgdCodec(int(arg))
    raise ValueError(f"unknown codec {name!r}")


def parse_spec(text: str) -> CompressionSpec:
    """Parse ``--compression``; UsageError naming the valid forms when it is wrong."""
    try:
        blocks = 1
        rest = text.strip()
        if rest.startswith("blocks:"):
            head, plus, rest = rest.partition("+")
            count = head.removeprefix("blocks:")
            if not plus or not count.isdigit() or not 1 <= int(count) <= MAX_BLOCKS:
                raise ValueError(f"blocks:K+CODEC needs 1 <= K <= {MAX_BLOCKS} and a codec")
            blocks = int(count)
        return CompressionSpec(codec_from_name(rest), blocks)
    except ValueError as exc:
        raise UsageError(f"--compression {text!r}: {exc}; valid forms: {VALID_FORMS}") from exc


def codec_for_header(name: str) -> Codec:
    """The codec a peer's header names; ExchangeRefused('unknown_codec') if there is none."""
    try:
        return codec_from_name(name)
    except ValueError as exc:
        raise ExchangeRefused("unknown_codec", str(exc)) from exc
