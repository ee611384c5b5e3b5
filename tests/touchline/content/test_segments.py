import pytest

from touchline.content.segments import GSM7_BASIC, GSM7_EXTENSION, count_segments

# GSM 03.38 (3GPP TS 23.038 §6.2.1), written out row by row from the standard's table
# rather than copied from the module: the basic table's 128 positions less ESC (0x1B)...
GSM_0338_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ"
    "ÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
# ...and the extension table reached through ESC: form feed, ^ { } \\ [ ~ ] | €.
GSM_0338_EXTENSION = "\f^{}\\[~]|€"


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
        # The exact boundaries: one message, and two or three parts of a concatenated one.
        ("ë" + "a" * 133, "UCS-2", 2, 134),  # 2 × 67
        ("ë" + "a" * 134, "UCS-2", 3, 135),
        ("a" + "€" * 152 + "a", "GSM-7", 2, 306),  # 1 + 76 pairs | 76 pairs + 1
        ("a" + "€" * 152 + "aa", "GSM-7", 3, 307),
        ("€" * 153, "GSM-7", 3, 306),  # 76 pairs fill 152 of 153: the odd septet stays empty
        ("a" * 159 + "€", "GSM-7", 2, 161),  # the 160th septet is half an escape pair
        ("a" * 158 + "€", "GSM-7", 1, 160),
        ("^{}\\[~]|" * 10, "GSM-7", 1, 160),  # every extension character costs two
        ("a" * 159 + "😀", "UCS-2", 3, 161),  # one emoji switches all 160 characters
        ("a" * 69 + "😀", "UCS-2", 2, 71),  # the emoji is two units: 71 > 70
        ("a" * 68 + "😀", "UCS-2", 1, 70),
        ("a" * 159 + "`", "UCS-2", 3, 160),  # the backtick is not in GSM 03.38
        ("a" * 159 + "ç", "UCS-2", 3, 160),  # only the capital Ç is; ç is not
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


def test_the_tables_are_gsm_03_38() -> None:
    assert len(GSM_0338_BASIC) == 127 and len(GSM_0338_EXTENSION) == 10
    assert set(GSM_0338_BASIC) == GSM7_BASIC
    assert set(GSM_0338_EXTENSION) == GSM7_EXTENSION


@pytest.mark.parametrize("character", list(GSM_0338_BASIC))
def test_every_basic_character_costs_one_septet(character: str) -> None:
    count = count_segments(character * 160)
    assert (count.encoding, count.units, count.segments) == ("GSM-7", 160, 1)


@pytest.mark.parametrize("character", list(GSM_0338_EXTENSION))
def test_every_extension_character_costs_two_septets(character: str) -> None:
    assert count_segments(character * 80).segments == 1
    count = count_segments(character * 81)
    assert (count.encoding, count.units, count.segments) == ("GSM-7", 162, 2)


def test_lookalikes_outside_the_table_switch_to_ucs2() -> None:
    for character in "çÀÈÍÓÚáíóú’“”–—…€\u00a0":
        count = count_segments("Hi " + character)
        expected = "GSM-7" if character == "€" else "UCS-2"
        assert count.encoding == expected, repr(character)
