"""The customer's own pages (preference center, SMS confirmation, an invalid link), as Jinja
templates beside this file.

Plain HTML forms and one inline stylesheet: no JavaScript and nothing loaded from elsewhere,
so the pages work in any mail client's browser, on a slow phone, and without cookies.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

PAGES_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def environment() -> Environment:
    # StrictUndefined: a value the route forgot to pass is a bug to see, not a blank on
    # a customer's page.
    return Environment(
        loader=FileSystemLoader(PAGES_DIR),
        autoescape=select_autoescape(["j2", "html"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, **context: Any) -> str:
    """``t``: the customer's words (pages.messages.translator); English unless given."""
    from touchline.api.pages.messages import translator

    context.setdefault("t", translator())
    return environment().get_template(name).render(**context)
