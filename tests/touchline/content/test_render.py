from datetime import UTC, datetime
from pathlib import Path

import pytest

from touchline.content import TemplateCatalog, render_email, render_sms
from touchline.errors import TemplateError


@pytest.fixture
def folder(tmp_path: Path) -> TemplateCatalog:
    (tmp_path / "j").mkdir()
    files = {
        "j/hello.subject.j2": "Hello {{ customer.first_name }}",
        "j/hello.html.j2": "<p>Hi {{ customer.first_name }}</p>",
        "j/hello.text.j2": "Hi {{ customer.first_name }}",
        "j/hello.fr.subject.j2": "Bonjour {{ customer.first_name }}",
        "j/hello.sms.j2": "Hi {{ customer.first_name }},\n   your code   {{ code }}",
        "j/broken.sms.j2": "line one\n{{ customer.nickname }}",
        "j/escape.sms.j2": "{{ ''.__class__.__mro__ }}",
        "j/long.sms.j2": "{{ 'x' * 700 }}",
        "j/money.sms.j2": "{{ price | money('EUR') }} until {{ when | add_days(14) | date('%d/%m') }}",
    }
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    return TemplateCatalog(tmp_path)


def test_email_has_subject_html_and_text(catalog: TemplateCatalog) -> None:
    context = {
        "customer": {"first_name": "Ada"},
        "company": {"name": "Acme", "postal_address": "1 Road"},
        "links": {
            "unsubscribe": "https://u/x",
            "preferences": "https://p/x",
            "confirm_sms": "https://c/x",
        },
        "offer": {"discount_percent": 15, "code": "WELCOME15", "valid_days": 14},
        "shop_url": "https://shop",
        "enrollment": {"trigger_at": datetime(2026, 11, 23, tzinfo=UTC)},
        "locale": "en",
    }
    email = render_email(catalog, "welcome/welcome", context)
    assert email.subject == "Welcome to Acme, Ada"
    assert "<strong>15% off</strong>" in email.html and "WELCOME15" in email.text
    assert "1 Road" in email.html and "https://u/x" in email.text  # footer: address, unsubscribe
    assert "https://p/x" in email.html and "https://p/x" in email.text  # and preferences
    assert "December 7" in email.text


def test_html_is_autoescaped_and_text_is_not(folder: TemplateCatalog) -> None:
    email = render_email(folder, "j/hello", {"customer": {"first_name": "<b>Ada & co</b>"}})
    assert "&lt;b&gt;Ada &amp; co&lt;/b&gt;" in email.html
    assert email.text == "Hi <b>Ada & co</b>"


def test_locale_falls_back_from_region_to_language_to_default(folder: TemplateCatalog) -> None:
    context = {"customer": {"first_name": "Ada"}}
    assert render_email(folder, "j/hello", context, "fr-CA").subject == "Bonjour Ada"
    assert render_email(folder, "j/hello", context, "fr").subject == "Bonjour Ada"
    assert render_email(folder, "j/hello", context, "de").subject == "Hello Ada"
    # a part with no French version comes from the default
    assert render_email(folder, "j/hello", context, "fr").text == "Hi Ada"


def test_an_undefined_variable_names_the_template_and_line(folder: TemplateCatalog) -> None:
    with pytest.raises(TemplateError) as caught:
        render_sms(folder, "j/broken", {"customer": {"first_name": "Ada"}})
    assert caught.value.template == "j/broken.sms.j2"
    assert caught.value.line == 2
    assert "nickname" in str(caught.value)


def test_the_sandbox_refuses_python_internals(folder: TemplateCatalog) -> None:
    with pytest.raises(TemplateError, match="not allowed"):
        render_sms(folder, "j/escape", {})


def test_sms_collapses_whitespace_and_counts_segments(folder: TemplateCatalog) -> None:
    sms = render_sms(folder, "j/hello", {"customer": {"first_name": "Zoë"}, "code": "W15"})
    assert sms.body == "Hi Zoë, your code W15"
    assert (sms.segments.encoding, sms.segments.segments) == ("UCS-2", 1)


def test_sms_over_the_segment_limit_is_a_template_error(folder: TemplateCatalog) -> None:
    with pytest.raises(TemplateError, match="5 segments of GSM-7 \\(max 4\\)"):
        render_sms(folder, "j/long", {}, max_segments=4)


def test_filters_for_money_and_dates(folder: TemplateCatalog) -> None:
    sms = render_sms(
        folder, "j/money", {"price": 1234.5, "when": datetime(2026, 11, 23, tzinfo=UTC)}
    )
    assert sms.body == "€1,234.50 until 07/12"


def test_a_missing_template_is_a_template_error(folder: TemplateCatalog) -> None:
    with pytest.raises(TemplateError, match="no such template"):
        render_sms(folder, "j/absent", {})
