"""Touchline's error hierarchy.

    TouchlineError
    ├── ConfigurationError        settings that cannot work (bad URL, missing key file)
    ├── ValidationError           bad input at a boundary; carries where and what
    │   ├── JourneyValidationError  a journey YAML file (file, line, field, problem)
    │   └── EventValidationError    an intake event (line, field, problem)
    ├── TemplateError             a template that cannot be loaded or rendered
    └── JourneyNotFoundError      a journey key/version that is not published

Channel errors live in ``channels.errors`` (Transient/Permanent), because only the
channel layer knows which provider failures are worth a retry.
"""

from __future__ import annotations

from dataclasses import dataclass


class TouchlineError(Exception):
    """Base of every error Touchline raises on purpose."""


class ConfigurationError(TouchlineError):
    pass


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
