"""Counts that agree in number: "1 step", "2 steps", "1,204 customers"."""

from __future__ import annotations

VOWELS = frozenset("aeiou")


def plural(noun: str) -> str:
    """The regular English plural of a lowercase noun (batch → batches, entry → entries)."""
    if noun.endswith(("s", "sh", "ch", "x", "z")):
        return noun + "es"
    if noun.endswith("y") and len(noun) > 1 and noun[-2] not in VOWELS:
        return noun[:-1] + "ies"
    return noun + "s"


def counted(n: int, noun: str, plural_form: str | None = None) -> str:
    """``n`` with its noun in the right number; give ``plural_form`` for irregular nouns
    (person → people)."""
    word = noun if n == 1 else (plural_form or plural(noun))
    return f"{n:,} {word}"
