"""Links in rendered email that a customer can safely click.

Event data reaches templates (``event.payload.cart.url``), and event data is written by
whoever can send us events. A ``javascript:``, ``data:`` or ``vbscript:`` URL in an ``href``
would run or show content of the sender's choosing when clicked in a webmail client that
does not strip it. Two layers:

- the ``safe_url`` filter, for templates to write ``href="{{ url | safe_url }}"``;
- ``neutralise_links``, run over every rendered HTML part, so a template that forgot the
  filter still cannot send such a link.

Schemes are read the way browsers read them (WHATWG URL): character references decoded,
tabs and newlines removed anywhere, leading spaces and control characters ignored, case
ignored. Only http, https, mailto and tel — and relative URLs — are kept.
"""

from __future__ import annotations

import html
import re
from typing import Any

from markupsafe import Markup

SAFE_SCHEMES = frozenset({"http", "https", "mailto", "tel"})
REPLACEMENT = "#"
_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*):")
_TAB_OR_NEWLINE = re.compile(r"[\t\n\r]")
_C0_AND_SPACE = "".join(map(chr, range(33)))
# Attributes that browsers follow or load as URLs.
_URL_ATTRIBUTE = re.compile(
    r"""(?P<name>\s(?:href|src|action|formaction|xlink:href|background|poster|cite|data)\s*=\s*)
        (?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)'|(?P<uq>[^\s"'=<>`]+))""",
    re.IGNORECASE | re.VERBOSE,
)


def is_safe_url(url: str, *, decode_entities: bool = True) -> bool:
    """Whether a browser would follow ``url`` to a web page, a mail or a call (or resolve
    it against the page). ``decode_entities``: the value is as written in HTML source, so
    character references are decoded first, as the browser's parser does; for a value that
    is not HTML, decoding can only turn a harmless URL into a refused one, never the reverse.
    """
    text = html.unescape(str(url)) if decode_entities else str(url)
    cleaned = _TAB_OR_NEWLINE.sub("", text).lstrip(_C0_AND_SPACE)
    match = _SCHEME.match(cleaned)
    return match is None or match.group(1).lower() in SAFE_SCHEMES


def safe_url(value: Any) -> Any:
    """The URL if clicking it is safe, else "#" (a template filter)."""
    if value is None:
        return value
    # A Markup value is already escaped: decode it the way the browser will.
    if is_safe_url(str(value)):
        return value
    return Markup(REPLACEMENT) if isinstance(value, Markup) else REPLACEMENT


def neutralise_links(markup: str) -> str:
    """The HTML with every unsafe URL attribute value replaced by "#"."""

    def replace(match: re.Match[str]) -> str:
        value = next(v for v in match.group("dq", "sq", "uq") if v is not None)
        if is_safe_url(value):
            return match.group(0)
        return f'{match.group("name")}"{REPLACEMENT}"'

    return _URL_ATTRIBUTE.sub(replace, markup)
