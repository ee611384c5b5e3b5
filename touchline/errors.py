"""Touchline's error hierarchy.

    TouchlineError
    ├── ConfigurationError        settings that cannot work (bad URL, missing key file)
    │   └── ProductionSecretsError  production mode with sandbox secrets (names each)
    ├── ValidationError           bad input at a boundary; carries where and what
    │   ├── JourneyValidationError  a journey YAML file (file, line, field, problem)
    │   └── EventValidationError    an intake event (line, field, problem)
    │   └── PreferenceError         a preference, consent or identity change (field, problem)
    ├── TemplateError             a template that cannot be loaded or rendered
    ├── JourneyNotFoundError      a journey key/version that is not published
    ├── UnknownCustomerError      no customer with that id
    ├── IdentityConflictError     an address already belongs to another customer
    └── MergeError                a merge that cannot be made
        ├── InvalidMergeError       never makeable as asked (into itself, no reason)
        └── MergeConflictError      clashes with an earlier merge

Channel errors live in ``channels.errors`` (Transient/Permanent), because only the
channel layer knows which provider failures are worth a retry.
"""

from __future__ import annotations

from dataclasses import dataclass


class TouchlineError(Exception):
    """Base of every error Touchline raises on purpose."""


class ConfigurationError(TouchlineError):
    pass


class ProductionSecretsError(ConfigurationError):
    """Production mode with secrets still at their sandbox defaults: refuse to start."""

    def __init__(self, component: str, problems: list[str]):
        self.component, self.problems = component, problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"{component} refuses to start in production mode (TOUCHLINE_MODE=production): "
            f"{len(problems)} secret(s) still have their sandbox values:\n{lines}\n"
            "Set each one, or run with TOUCHLINE_MODE=sandbox against the emulators."
        )


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input: where it is and what is wrong."""

    field: str
    message: str
    source: str | None = None  # a file name, "stdin", "POST /events"
    line: int | None = None

    def __str__(self) -> str:
        where = self.source or ""
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        prefix = f"{where}: " if where else ""
        field = f"{self.field}: " if self.field else ""
        return f"{prefix}{field}{self.message}"


class ValidationError(TouchlineError):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class JourneyValidationError(ValidationError):
    pass


class EventValidationError(ValidationError):
    pass


class PreferenceError(ValidationError):
    """A change to preferences, consent or identities that cannot be made as asked."""


class SegmentFileError(ValidationError):
    """A segment file that cannot be launched at all (no header, no customer_id column)."""


class TemplateError(TouchlineError):
    """A template is missing, has a syntax error, or used something the context lacks."""

    def __init__(self, template: str, message: str, line: int | None = None):
        self.template = template
        self.line = line
        where = f"{template}:{line}" if line else template
        super().__init__(f"{where}: {message}")


class JourneyNotFoundError(TouchlineError):
    pass


class LaunchError(TouchlineError):
    """A launch that cannot start: the journey is not meant to be launched, say."""


class UnknownCustomerError(TouchlineError):
    def __init__(self, customer_id: str):
        self.customer_id = customer_id
        super().__init__(f"no customer '{customer_id}'")


class IdentityConflictError(TouchlineError):
    """The address is another customer's. Linking it anyway would join two people's
    records on a guess; if they are one person, merge them."""

    def __init__(self, kind: str, value: str, owner: str):
        self.kind, self.value, self.owner = kind, value, owner
        super().__init__(
            f"the {kind} {value} already belongs to customer {owner}; "
            "if they are the same person, merge the two customers"
        )


class MergeError(TouchlineError):
    pass


class InvalidMergeError(MergeError):
    pass


class MergeConflictError(MergeError):
    pass


class ModelFitError(TouchlineError):
    """The purchase model cannot be fitted on these purchases (none, or no time observed)."""


class MissingExtraError(TouchlineError):
    """A feature needs an optional extra that is not installed (the message says which)."""
