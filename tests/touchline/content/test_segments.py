import pytest

from touchline.content.segments import count_segments


@pytest.mark.parametrize(
    ("text", "encoding", "segments", "units"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 1, 160),
        ("a" * 161, "GSM-7", 2, 161),
        ("a" * 306, "GSM-7", 2, 306),  # 2 × 153
        ("a" * 307, "GSM-7", 3, 307),
        ("€" * 80, "GSM-7", 1, 160),  # extension characters cost two septets
        ("€" * 81, "GSM-7", 2, 162),
        ("Café, £5 @ Zürich: ñ ü é à Ø Δ", "GSM-7", 1, 30),  # all in the basic table
        ("ë" + "a" * 69, "UCS-2", 1, 70),  # one non-GSM character switches the message
        ("ë" + "a" * 70, "UCS-2", 2, 71),
        ("a" * 134, "GSM-7", 1, 134),
        ("😀" * 35, "UCS-2", 1, 70),  # outside the BMP: two code units each
        ("😀" * 36, "UCS-2", 2, 72),
    ],
)
def test_counts_segments_as_carriers_bill_them(
    text: str, encoding: str, segments: int, units: int
) -> None:
    count = count_segments(text)
    assert (count.encoding, count.segments, count.units) == (encoding, segments, units)


def test_an_escape_pair_never_straddles_two_parts() -> None:
    # 306 septets would fill exactly two parts of 153, but the "€" pair would have to
    # split across them: it moves whole to the second part, and the last "a" needs a third.
    text = "a" * 152 + "€" + "a" * 152
    assert count_segments(text).units == 306
    assert count_segments(text).segments == 3


def test_a_surrogate_pair_never_straddles_two_parts() -> None:
    text = "ë" + "a" * 65 + "😀" + "a" * 66  # 134 code units; the emoji would sit at 67-68
    assert count_segments(text).units == 134
    assert count_segments(text).segments == 3


def test_names_the_characters_that_forced_ucs2() -> None:
    assert count_segments("Hi Zoë, “welcome”").non_gsm == ("ë", "“", "”")
