"""X direct message content: ``<name>.x.j2``, one part, rendered like an SMS body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from touchline.content.catalog import TemplateCatalog
from touchline.content.render import _render
from touchline.errors import TemplateError

MAX_DM_TEXT = 10_000  # X's limit for the text of a direct message


def render_direct_message(
    catalog: TemplateCatalog, name: str, context: Mapping[str, Any], locale: str | None = None
) -> str:
    # Whitespace runs collapse, as for SMS: template indentation is not the customer's text.
    text = " ".join(_render(catalog, name, "x", context, locale).split())
    if not text:
        raise TemplateError(f"{name}.x.j2", "the direct message rendered empty")
    if len(text) > MAX_DM_TEXT:
        raise TemplateError(
            f"{name}.x.j2", f"the direct message is {len(text)} characters (max {MAX_DM_TEXT})"
        )
    return text
