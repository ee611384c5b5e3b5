"""The scrubber on its own: every spelling of a customer's data goes, the rest stays."""

from __future__ import annotations

from pydantic import SecretStr

from touchline.config import Settings
from touchline.privacy.keys import keyed_hash
from touchline.privacy.scrub import ERASED, Scrubber, regions_of

KNOWN = [("email", "ada@example.com"), ("phone", "+33612345678"), ("text", "Ada Lovelace"),
         ("text", "Lovelace")]  # fmt: skip


def test_every_spelling_of_their_data_is_erased_and_the_rest_kept() -> None:
    scrub = Scrubber(KNOWN, regions=regions_of(["+33612345678"]))
    payload = {
        "total": 12.5,
        "placed_at": "2026-11-23T14:00:00+00:00",
        "order": "A-1002003004",
        "lines": [{"sku": "HAT-1", "qty": 2}],
        "note": "leave at the door",
        "billing_email": "ADA@Example.com",
        "message": f"{'x' * 3}",
        "free": "Appelez 06 12 34 56 78 ou +33 6 12 34 56 78, ou écrivez à ada@example.com "
        "(Mme LOVELACE); friend: bob@example.org, +1 (415) 555-0101",
        "ada@example.com": True,
    }

    out = scrub.value(payload)

    assert out["total"] == 12.5 and out["placed_at"] == payload["placed_at"]
    assert out["order"] == "A-1002003004" and out["lines"] == payload["lines"]
    assert out["note"] == out["billing_email"] == out["message"] == ERASED
    assert out["free"] == (
        f"Appelez {ERASED} ou {ERASED}, ou écrivez à {ERASED} (Mme {ERASED}); "
        f"friend: {ERASED}, {ERASED}"
    )
    assert out[ERASED] is True
    assert payload["billing_email"] == "ADA@Example.com"  # the input is left alone


def test_kept_evidence_hashes_each_address_as_the_address_hashes_everywhere() -> None:
    settings = Settings(erasure_key=SecretStr("k1"))
    hashed = Scrubber(KNOWN, replace=lambda k, v: keyed_hash(settings, k, v))

    out = hashed.value({"from": "+33612345678", "typed": "Ada@EXAMPLE.com", "ip": "203.0.113.9"})

    assert out["from"] == keyed_hash(settings, "phone", "+33612345678")
    assert out["typed"] == keyed_hash(settings, "email", "ada@example.com")
    assert out["ip"] == keyed_hash(settings, "text", "203.0.113.9")
    other_key = Settings(erasure_key=SecretStr("k2"))
    assert keyed_hash(other_key, "phone", "+33612345678") != out["from"]
