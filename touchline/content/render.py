"""Render a template family into the parts a channel sends."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import css_inline
import jinja2
from jinja2.exceptions import SecurityError

from touchline.content.catalog import TemplateCatalog
from touchline.content.safe_links import neutralise_links
from touchline.content.segments import SegmentCount, count_segments
from touchline.errors import TemplateError
from touchline.words import counted

MAX_SUBJECT_LENGTH = 255
# Appended to a marketing SMS that does not already tell how to opt out (CTIA, and Twilio's
# Messaging Policy, expect it in every marketing text).
SMS_OPT_OUT = "Reply STOP to opt out."
# The keyword as carriers act on it: a capitalised whole word. "Don't stop" is not one.
_STOP = re.compile(r"\bSTOP\b")
# Styles written once in a <style> block are copied into style attributes: Gmail, Outlook
# and most webmail ignore or strip <style>. At-rules (@media) cannot be inlined and stay in
# <style> for the clients that honour them. Nothing is ever fetched from elsewhere.
_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class RenderedSms:
    body: str
    segments: SegmentCount


def render_email(
    catalog: TemplateCatalog, name: str, context: Mapping[str, Any], locale: str | None = None
) -> RenderedEmail:
    subject = " ".join(_render(catalog, name, "subject", context, locale).split())
    if not subject:
        raise TemplateError(f"{name}.subject.j2", "the subject rendered empty")
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise TemplateError(
            f"{name}.subject.j2",
            f"the subject is {len(subject)} characters (max {MAX_SUBJECT_LENGTH})",
        )
    html = inline_css(_render(catalog, name, "html", context, locale), f"{name}.html.j2")
    # Last: whatever the template wrote, no javascript:/data: URL leaves in an href.
    html = neutralise_links(html)
    text = _render(catalog, name, "text", context, locale)
    if not text.strip():
        raise TemplateError(f"{name}.text.j2", "the plain-text part rendered empty")
    return RenderedEmail(subject=subject, html=html, text=text)


def render_sms(
    catalog: TemplateCatalog,
    name: str,
    context: Mapping[str, Any],
    locale: str | None = None,
    *,
    max_segments: int = 10,
    opt_out: str | None = None,
) -> RenderedSms:
    """``opt_out``: the instruction a marketing text must carry, appended when the template
    has none of its own (no "STOP" in the body); counted in the segments like the rest."""
    # Whitespace runs collapse: template indentation must not cost the customer a segment.
    body = " ".join(_render(catalog, name, "sms", context, locale).split())
    if not body:
        raise TemplateError(f"{name}.sms.j2", "the SMS body rendered empty")
    if opt_out and not has_opt_out(body):
        body = f"{body} {opt_out}"
    segments = count_segments(body)
    if segments.segments > max_segments:
        raise TemplateError(
            f"{name}.sms.j2",
            f"the SMS is {counted(segments.segments, 'segment')} of {segments.encoding} (max {max_segments})"
            + (f"; non-GSM characters: {''.join(segments.non_gsm)}" if segments.non_gsm else ""),
        )
    return RenderedSms(body=body, segments=segments)


def has_opt_out(body: str) -> bool:
    return _STOP.search(body) is not None


def inline_css(html: str, template: str) -> str:
    """The HTML with its <style> rules copied into style attributes (a style attribute the
    template wrote itself wins over a rule, as in a browser)."""
    if "<style" not in html.lower():
        return html
    try:
        return _INLINER.inline(html)
    except ValueError as exc:  # css_inline.InlineError: CSS or HTML it cannot read
        raise TemplateError(template, f"the CSS cannot be inlined: {exc}") from exc


def _render(
    catalog: TemplateCatalog, name: str, part: str, context: Mapping[str, Any], locale: str | None
) -> str:
    template = catalog.get(name, part, locale)
    try:
        return template.render(context)
    except jinja2.UndefinedError as exc:
        raise TemplateError(
            template.name or name, exc.message or "undefined value", _line(exc)
        ) from exc
    except SecurityError as exc:
        raise TemplateError(template.name or name, f"not allowed in templates: {exc}") from exc
    except jinja2.TemplateError as exc:
        raise TemplateError(template.name or name, str(exc), _line(exc)) from exc
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        # A filter fed the wrong type (``"abc"|money``) is the template's fault, not ours.
        raise TemplateError(
            template.name or name, f"{type(exc).__name__}: {exc}", _line(exc)
        ) from exc


def _line(exc: BaseException) -> int | None:
    """The template line an exception came from, found in its traceback."""
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(".j2"):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
