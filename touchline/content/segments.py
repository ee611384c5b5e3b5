"""Exact SMS segment counting, as carriers bill it.

GSM-7 (3GPP TS 23.038): 160 septets in one message, 153 per part once concatenated (the
user-data header takes 7). Characters of the extension table (€ [ ] { } \\ ^ ~ | and form
feed) cost two septets, and an escape pair is never split across parts.

UCS-2: a single character outside GSM-7 switches the whole message. 70 UTF-16 code units in
one message, 67 per part; characters outside the Basic Multilingual Plane (most emoji) take
two code units and a surrogate pair is never split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


@dataclass(frozen=True)
class SegmentCount:
    encoding: Literal["GSM-7", "UCS-2"]
    segments: int
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    characters: int
    # The characters that forced UCS-2, so the writer can replace them.
    non_gsm: tuple[str, ...] = ()

    @property
    def per_segment(self) -> int:
        if self.segments <= 1:
            return GSM7_SINGLE if self.encoding == "GSM-7" else UCS2_SINGLE
        return GSM7_PART if self.encoding == "GSM-7" else UCS2_PART


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def count_segments(text: str) -> SegmentCount:
    if not text:
        return SegmentCount("GSM-7", 0, 0, 0)
    non_gsm = tuple(
        dict.fromkeys(ch for ch in text if ch not in GSM7_BASIC and ch not in GSM7_EXTENSION)
    )
    if not non_gsm:
        costs = [2 if ch in GSM7_EXTENSION else 1 for ch in text]
        return SegmentCount("GSM-7", _pack(costs, GSM7_SINGLE, GSM7_PART), sum(costs), len(text))
    costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    return SegmentCount(
        "UCS-2", _pack(costs, UCS2_SINGLE, UCS2_PART), sum(costs), len(text), non_gsm
    )


def _pack(costs: list[int], single: int, part: int) -> int:
    """Parts needed when no character (escape pair, surrogate pair) may straddle two parts."""
    total = sum(costs)
    if total <= single:
        return 1
    parts, used = 1, 0
    for cost in costs:
        if used + cost > part:
            parts += 1
            used = 0
        used += cost
    return parts
