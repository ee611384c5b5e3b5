"""WhatsApp content: free text inside the customer's session window, an approved template
outside it.

WhatsApp lets a business write freely for 24 hours after the customer's last message (the
customer service window); any other time, only a template WhatsApp approved may go. So a
template family has two WhatsApp parts:

    cart/reminder.whatsapp.j2      the free text, rendered like an SMS body
    cart/reminder.whatsapp.yaml    the approved template, declared next to it:

        content_sid: HX3c1f0a9b8e7d6c5b4a39281706f5e4d3   # Twilio's Content Template SID
        variables:                                         # placeholder -> Jinja expression
          "1": "{{ customer.first_name }}"
          "2": "{{ event.payload.cart.total | money }}"

Each variable is rendered with the same sandboxed environment and context as the Jinja
files. WhatsApp approves a template per language, so a locale variant is a file of its
own (``reminder.fr.whatsapp.yaml``), looked up like the Jinja parts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from weakref import WeakKeyDictionary

import jinja2
import yaml

from touchline.content.catalog import TemplateCatalog, _locale_chain
from touchline.content.render import _render
from touchline.errors import TemplateError

SIDECAR = "whatsapp.yaml"
CONTENT_SID = re.compile(r"^HX[0-9a-fA-F]{32}$")
PLACEHOLDER_KEY = re.compile(r"^[0-9]{1,3}$")
# Free text is chosen only while this much of the window is left: the message is rendered
# a moment before it reaches Twilio, and free text that arrives after the window closed is
# refused (63016) where the template would have gone.
SESSION_MARGIN = timedelta(minutes=5)
MAX_BODY = 1600  # Twilio's limit for a message body and for a template variable
SEPARATOR = "\x1f"  # ASCII unit separator: between variables rendered together

Form = Literal["session", "template"]


@dataclass(frozen=True)
class ApprovedTemplate:
    filename: str  # relative to the catalog root
    content_sid: str
    variables: tuple[tuple[str, jinja2.Template], ...]
    # Every variable in one template, separated by SEPARATOR: one Jinja context per
    # message instead of one per variable (most of the cost of rendering them).
    combined: jinja2.Template | None = None


@dataclass(frozen=True)
class RenderedWhatsApp:
    form: Form
    body: str | None = None
    content_sid: str | None = None
    variables: Mapping[str, str] = field(default_factory=dict)


def render_whatsapp(
    catalog: TemplateCatalog,
    name: str,
    context: Mapping[str, Any],
    locale: str | None,
    *,
    session_until: datetime | None,
    now: datetime,
) -> RenderedWhatsApp:
    """The message in the form WhatsApp allows now: free text while the customer's session
    window is open (with a margin), else the approved template. Raises TemplateError when
    the window is closed and there is no approved template, or a part fails to render."""
    approved = approved_template(catalog, name, locale)
    open_now = session_until is not None and now < session_until
    # Near the end of the window the template is safer, when there is one.
    if open_now and (approved is None or now < session_until - SESSION_MARGIN):  # type: ignore[operator]
        return RenderedWhatsApp("session", body=render_text(catalog, name, context, locale))
    if approved is None:
        raise TemplateError(
            name,
            "outside the 24-hour WhatsApp session window and no approved template "
            f"({name}.{SIDECAR}) to open a conversation with",
        )
    return RenderedWhatsApp(
        "template",
        content_sid=approved.content_sid,
        variables=render_variables(catalog, approved, context),
    )


def render_text(
    catalog: TemplateCatalog, name: str, context: Mapping[str, Any], locale: str | None
) -> str:
    """The free text: rendered like an SMS body, but WhatsApp keeps line breaks."""
    text = _render(catalog, name, "whatsapp", context, locale)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    body = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if not body:
        raise TemplateError(f"{name}.whatsapp.j2", "the WhatsApp message rendered empty")
    if len(body) > MAX_BODY:
        raise TemplateError(
            f"{name}.whatsapp.j2",
            f"the WhatsApp message is {len(body)} characters (max {MAX_BODY})",
        )
    return body


def render_variables(
    catalog: TemplateCatalog, approved: ApprovedTemplate, context: Mapping[str, Any]
) -> dict[str, str]:
    """Each variable on one line, as Twilio accepts them (no newlines, tabs or runs of
    spaces: 21656), never empty."""
    values = None
    if approved.combined is not None:
        try:
            values = approved.combined.render(context).split(SEPARATOR)
        except Exception:  # rendered again one by one below, to name the variable at fault
            values = None
    if values is None or len(values) != len(approved.variables):
        values = [_render_one(approved, key, t, context) for key, t in approved.variables]
    rendered = {}
    for (key, _), raw in zip(approved.variables, values, strict=True):
        value = " ".join(raw.split())
        if not value:
            raise TemplateError(approved.filename, f"variables.{key} rendered empty")
        if len(value) > MAX_BODY:
            raise TemplateError(
                approved.filename, f"variables.{key} is {len(value)} characters (max {MAX_BODY})"
            )
        rendered[key] = value
    return rendered


def _render_one(
    approved: ApprovedTemplate, key: str, template: jinja2.Template, context: Mapping[str, Any]
) -> str:
    try:
        return template.render(context)
    except jinja2.UndefinedError as exc:
        raise TemplateError(
            approved.filename, f"variables.{key}: {exc.message or 'undefined value'}"
        ) from exc
    except jinja2.TemplateError as exc:
        raise TemplateError(approved.filename, f"variables.{key}: {exc}") from exc
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateError(
            approved.filename, f"variables.{key}: {type(exc).__name__}: {exc}"
        ) from exc


def approved_template(
    catalog: TemplateCatalog, name: str, locale: str | None = None
) -> ApprovedTemplate | None:
    """The approved template declared for ``name`` in the best matching locale, or None.

    Read once per catalog, like its Jinja files (the catalog does not reload them either):
    the send path asks for the same few templates thousands of times."""
    cache = _loaded.setdefault(catalog.env, {})
    if (name, locale) not in cache:
        cache[(name, locale)] = _find(catalog, name, locale)
    return cache[(name, locale)]


_loaded: WeakKeyDictionary[
    jinja2.Environment, dict[tuple[str, str | None], ApprovedTemplate | None]
] = WeakKeyDictionary()


def _find(catalog: TemplateCatalog, name: str, locale: str | None) -> ApprovedTemplate | None:
    for candidate in _locale_chain(locale):
        relative = f"{name}.{candidate}.{SIDECAR}" if candidate else f"{name}.{SIDECAR}"
        path = catalog.root / relative
        if path.is_file():
            return _parse(catalog, relative, path.read_text(encoding="utf-8"))
    return None


def _parse(catalog: TemplateCatalog, relative: str, text: str) -> ApprovedTemplate:
    try:
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise TemplateError(relative, f"not valid YAML: {exc.problem}", line) from exc
    except yaml.YAMLError as exc:
        raise TemplateError(relative, f"not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise TemplateError(relative, "needs content_sid and variables")
    unknown = set(data) - {"content_sid", "variables"}
    if unknown:
        raise TemplateError(relative, f"unknown fields: {', '.join(sorted(map(str, unknown)))}")
    sid = data.get("content_sid")
    if not isinstance(sid, str) or not CONTENT_SID.match(sid):
        raise TemplateError(
            relative,
            f"content_sid: {sid!r} is not a Content Template SID (HX and 32 hexadecimal "
            "digits, from Twilio's Content Template Builder)",
        )
    raw = data.get("variables") or {}
    if not isinstance(raw, dict):
        raise TemplateError(relative, 'variables: give a mapping such as {"1": "{{ ... }}"}')
    variables = []
    for key, source in raw.items():
        key = str(key)
        if not PLACEHOLDER_KEY.match(key):
            raise TemplateError(
                relative, f"variables.{key}: WhatsApp placeholders are numbered ({{{{1}}}})"
            )
        if not isinstance(source, str | int | float):
            raise TemplateError(relative, f"variables.{key}: give a Jinja expression as text")
        try:
            variables.append((key, catalog.env.from_string(str(source))))
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(relative, f"variables.{key}: {exc.message}") from exc
    ordered = tuple(sorted(variables, key=lambda kv: int(kv[0])))
    sources = [str(raw[key]) for key, _ in ordered]
    combined = None
    if ordered and not any(SEPARATOR in source for source in sources):
        combined = catalog.env.from_string(SEPARATOR.join(sources))
    return ApprovedTemplate(relative, sid, ordered, combined)
