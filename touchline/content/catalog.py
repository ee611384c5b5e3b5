"""Where templates live and which channels a template can speak.

A template name such as ``welcome/welcome_email`` is a family of files in ``templates/``:

    welcome/welcome_email.subject.j2   email subject (one line)
    welcome/welcome_email.html.j2      email HTML (autoescaped; may extend layouts/email.html.j2)
    welcome/welcome_email.text.j2      email plain-text part
    welcome/welcome_email.sms.j2       SMS body

A locale variant puts the locale before the part: ``welcome_email.fr.subject.j2``; lookup
tries ``fr-CA``, then ``fr``, then the default. One name across channels means one offer
context: the price and the promo code agree in the email and the SMS.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta
from jinja2.sandbox import SandboxedEnvironment

from touchline.content.safe_links import safe_url
from touchline.errors import Problem, TemplateError

CHANNEL_PARTS: dict[str, tuple[str, ...]] = {
    "email": ("subject", "html", "text"),
    "sms": ("sms",),
    "whatsapp": ("whatsapp",),  # free text, inside the customer's 24-hour session window
    "x": ("x",),  # an X direct message
}


def _autoescape(name: str | None) -> bool:
    return bool(name) and name.endswith(".html.j2")  # type: ignore[union-attr]


class TemplateCatalog:
    def __init__(self, root: Path):
        self.root = Path(root)
        # Sandboxed: templates are written by marketers, not engineers, and must not reach
        # Python internals. StrictUndefined: a misspelt variable is an error, never a blank
        # "Hi ," in a million inboxes.
        self.env = SandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(self.root)),
            undefined=jinja2.StrictUndefined,
            autoescape=_autoescape,
            keep_trailing_newline=False,
            auto_reload=False,
            cache_size=1000,
        )
        self.env.filters["money"] = _money
        self.env.filters["date"] = _date
        self.env.filters["add_days"] = _add_days
        self.env.filters["safe_url"] = safe_url

    def filename(self, name: str, part: str, locale: str | None = None) -> str | None:
        """The file for one part in the best matching locale, or None if there is none."""
        for candidate in _locale_chain(locale):
            relative = f"{name}.{candidate}.{part}.j2" if candidate else f"{name}.{part}.j2"
            if (self.root / relative).is_file():
                return relative
        return None

    def channels_for(self, name: str) -> tuple[str, ...]:
        """The channels this template has every (default-locale) part for."""
        return tuple(
            channel
            for channel, parts in CHANNEL_PARTS.items()
            if all(self.filename(name, part) for part in parts)
        )

    def get(self, name: str, part: str, locale: str | None = None) -> jinja2.Template:
        filename = self.filename(name, part, locale)
        if filename is None:
            raise TemplateError(f"{name}.{part}.j2", f"no such template in {self.root}")
        try:
            return self.env.get_template(filename)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(filename, exc.message or "syntax error", exc.lineno) from exc

    def check(
        self, name: str, channels: tuple[str, ...] | None, known: frozenset[str] | None = None
    ) -> list[Problem]:
        """Problems that would stop this template from rendering for these channels.

        ``channels=None`` (the customer's order decides) needs at least one channel.
        ``known``: the top-level names the template will be given; a name it uses beyond
        them would fail for every customer at send time, so it is reported now.
        """
        problems: list[Problem] = []
        wanted = channels if channels is not None else tuple(CHANNEL_PARTS)
        usable = []
        for channel in wanted:
            missing = [part for part in CHANNEL_PARTS[channel] if not self.filename(name, part)]
            if missing:
                if channels is not None:
                    files = ", ".join(f"{name}.{part}.j2" for part in missing)
                    problems.append(Problem("template", f"{channel} needs {files} in {self.root}"))
                continue
            usable.append(channel)
            for part in CHANNEL_PARTS[channel]:
                for filename in self._all_locale_files(name, part):
                    try:
                        self.env.get_template(filename)
                        unknown = self.variables(filename) - (known or self.variables(filename))
                    except jinja2.TemplateSyntaxError as exc:
                        problems.append(
                            Problem("template", f"{filename}:{exc.lineno}: {exc.message}")
                        )
                        continue
                    if unknown:
                        problems.append(
                            Problem(
                                "template",
                                f"{filename} uses {', '.join(sorted(unknown))}, which neither "
                                "Touchline nor the journey's context provides",
                            )
                        )
        if channels is None and not usable:
            problems.append(
                Problem("template", f"'{name}' has no complete set of parts for any channel")
            )
        return problems

    def variables(self, filename: str) -> set[str]:
        """Top-level names a template (and the layouts it extends or includes) reads."""
        seen: set[str] = set()
        names: set[str] = set()
        pending = [filename]
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            source = self.env.loader.get_source(self.env, current)[0]  # type: ignore[union-attr]
            tree = self.env.parse(source)
            names |= meta.find_undeclared_variables(tree)
            pending.extend(t for t in meta.find_referenced_templates(tree) if t)
        return names - set(self.env.globals)

    def _all_locale_files(self, name: str, part: str) -> list[str]:
        folder = Path(name).parent
        pattern = re.compile(
            rf"^{re.escape(Path(name).name)}(\.[A-Za-z]{{2,3}}(-[A-Za-z0-9]+)?)?\.{part}\.j2$"
        )
        found = sorted(p.name for p in (self.root / folder).glob("*.j2") if pattern.match(p.name))
        return [str(folder / f) if str(folder) != "." else f for f in found]


def _locale_chain(locale: str | None) -> list[str | None]:
    chain: list[str | None] = []
    if locale:
        normalised = locale.replace("_", "-")
        chain.append(normalised)
        language = normalised.split("-")[0]
        if language != normalised:
            chain.append(language)
    chain.append(None)
    return chain


def _money(value: Any, currency: str = "USD") -> str:
    symbols = {"USD": "$", "EUR": "€", "GBP": "£"}
    amount = f"{float(value):,.2f}"
    symbol = symbols.get(currency.upper())
    return f"{symbol}{amount}" if symbol else f"{amount} {currency.upper()}"


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return datetime.fromisoformat(str(value))


def _date(value: Any, fmt: str = "%B %-d, %Y") -> str:
    return _as_datetime(value).strftime(fmt)


def _add_days(value: Any, days: int | float) -> datetime:
    return _as_datetime(value) + timedelta(days=float(days))
