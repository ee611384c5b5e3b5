import pytest

from preference_center.identities import InvalidAddress, normalise


def test_emails_keep_their_local_part_and_lower_their_domain() -> None:
    assert normalise("email", "Ada.Lovelace@Example.COM") == "Ada.Lovelace@example.com"


def test_phones_become_e164() -> None:
    assert normalise("phone", "+1 (415) 555-0100") == "+14155550100"
    assert normalise("phone", "06 12 34 56 78", "FR") == "+33612345678"


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("email", "not-an-address"),
        ("phone", "12"),
        ("phone", "0612345678"),
        ("x_handle", "way too long for a handle"),
    ],
)
def test_invalid_addresses_are_refused(kind: str, value: str) -> None:
    with pytest.raises(InvalidAddress):
        normalise(kind, value)
