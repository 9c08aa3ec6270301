"""Codecs for parameter exchanges, one small module each behind :class:`Codec`.

=============== ================================================ ===========
spec            payload                                          bytes/value
=============== ================================================ ===========
none            float32                                          4
fp16            float16, clipped to its range                    2
int8            int8 + float32 scale per 256                     ~1.02
qsgd:LEVELS     stochastic levels (unbiased) + norm per 128      ~0.53 (<=7)
sign            1 bit + float32 scale per 256                    ~0.14
topk:F          F of the values + varint/bitmap indices          ~5 F
topk:F:sign     F of the signs + Rice-coded indices              ~1.2 F (1%)
randk:F         F of the values, positions from the seed         4 F
=============== ================================================ ===========

What is compressed, and how both sides stay in step, is the averaging rule's
business (:mod:`gossip.averaging.compressed`).
"""

from gossip.compression.base import Codec
from gossip.compression.spec import (
    VALID_FORMS,
    CompressionSpec,
    codec_for_header,
    codec_from_name,
    parse_spec,
    resolve,
)

__all__ = [
    "VALID_FORMS",
    "Codec",
    "CompressionSpec",
    "codec_for_header",
    "codec_from_name",
    "parse_spec",
    "resolve",
]
