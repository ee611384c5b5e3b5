"""No javascript:, data: or vbscript: URL from event data reaches an href in rendered email:
the safe_url filter, and the pass over every rendered HTML part that catches a template
which forgot it."""

from html.parser import HTMLParser
from pathlib import Path

import pytest

from touchline.content import TemplateCatalog, render_email
from touchline.content.safe_links import is_safe_url, neutralise_links

HOSTILE = [
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    " javascript:alert(1)",
    "\x01javascript:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "jav&#x61;script:alert(1)",
    "&#106;avascript:alert(1)",
    "javascript&colon;alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "DATA:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
]
SAFE = ["https://shop.example/cart/42", "http://shop.example/c?a=1&b=2", "mailto:help@example.com",
        "tel:+14155550100", "/cart/42", "cart/42", "#top", "?q=javascript:x", "https://x/javascript:"]  # fmt: skip


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_schemes_are_unsafe(url: str) -> None:
    assert not is_safe_url(url)


@pytest.mark.parametrize("url", SAFE)
def test_web_mail_and_phone_links_are_safe(url: str) -> None:
    assert is_safe_url(url)


def cart_context(url: str) -> dict:
    return {
        "customer": {"first_name": "Ada"},
        "company": {"name": "Acme", "postal_address": "1 Road"},
        "links": {"unsubscribe": "https://u/x", "preferences": "https://p/x"},
        "event": {"payload": {"cart": {"items": [{"name": "Boots", "price": 80}], "total": 80,
                                       "currency": "EUR", "url": url}}},
        "locale": "en",
    }  # fmt: skip


@pytest.mark.parametrize("url", HOSTILE)
def test_the_cart_reminder_never_links_to_a_hostile_url(catalog: TemplateCatalog, url: str) -> None:
    email = render_email(catalog, "cart/reminder", cart_context(url))
    assert 'href="#"' in email.html
    lowered = email.html.lower()
    for scheme in ("javascript", "vbscript", "data:text"):
        assert f'href="{scheme}' not in lowered


def test_the_cart_reminder_keeps_a_real_link(catalog: TemplateCatalog) -> None:
    email = render_email(catalog, "cart/reminder", cart_context("https://shop.example/c?a=1&b=2"))
    assert 'href="https://shop.example/c?a=1&amp;b=2"' in email.html


@pytest.fixture
def careless(tmp_path: Path) -> TemplateCatalog:
    """A template that writes event data into URL attributes without the filter."""
    (tmp_path / "t").mkdir()
    files = {
        "t/careless.subject.j2": "Hi",
        "t/careless.text.j2": "Hi",
        "t/careless.html.j2": (
            '<a href="{{ url }}">a</a> <a HREF=\'{{ url }}\'>b</a> <img src="{{ url }}">'
            '<form action={{ url }}><button formaction="{{ url }}">c</button></form>'
            '<a href="https://ok.example/">ok</a>'
        ),
    }
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    return TemplateCatalog(tmp_path)


@pytest.mark.parametrize("url", HOSTILE)
def test_a_template_that_forgot_the_filter_is_still_neutralised(
    careless: TemplateCatalog, url: str
) -> None:
    html = render_email(careless, "t/careless", {"url": url}).html
    links = url_attributes(html)
    assert len(links) == 6 and all(is_safe_url(v, decode_entities=False) for v in links), links
    assert 'href="https://ok.example/"' in html


def url_attributes(html: str) -> list[str]:
    """Every URL attribute as a browser's parser reads it (entities decoded)."""
    found: list[str] = []

    class Links(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.extend(v or "" for k, v in attrs if k in {"href", "src", "action", "formaction"})

    Links().feed(html)
    return found


def test_neutralising_leaves_text_and_safe_links_alone() -> None:
    markup = '<p>Write javascript:alert(1) in text</p><a href="https://a/" title="x">a</a>'
    assert neutralise_links(markup) == markup
