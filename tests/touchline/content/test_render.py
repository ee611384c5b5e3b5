from datetime import UTC, datetime
from pathlib import Path

import pytest

from touchline.content import TemplateCatalog, render_email, render_sms
from touchline.content.render import SMS_OPT_OUT
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
        "j/offer.sms.j2": "{{ text }}",
        "j/styled.subject.j2": "Styled",
        "j/styled.text.j2": "Styled",
        "j/styled.html.j2": (
            "<html><head><style>.note { color: #123456; } p { margin: 0 }"
            " @media (max-width: 600px) { .note { color: #000 !important } }</style></head>"
            '<body><p class="note">A</p><p class="note" style="color: red">B</p></body></html>'
        ),
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


WELCOME_CONTEXT = {
    "customer": {"first_name": "Ada"},
    "company": {"name": "Acme", "postal_address": "1 Road"},
    "links": {"unsubscribe": "https://u/x", "preferences": "https://p/x", "confirm_sms": "c"},
    "offer": {"discount_percent": 15, "code": "WELCOME15", "valid_days": 14},
    "shop_url": "https://shop",
    "enrollment": {"trigger_at": datetime(2026, 11, 23, tzinfo=UTC)},
    "locale": "en",
}


def test_css_rules_are_inlined_and_media_queries_kept(folder: TemplateCatalog) -> None:
    html = render_email(folder, "j/styled", {}).html
    assert '<p class="note" style="margin: 0;color: #123456;">A</p>' in html
    # A style the template wrote itself wins over the stylesheet, as in a browser.
    assert '<p class="note" style="margin: 0;color: red">B</p>' in html
    # @media cannot be inlined: it stays in <style> for the clients that honour it.
    assert "<style>@media (max-width: 600px)" in html and ".note { color: #123456" not in html


def test_the_shipped_layout_is_inlined(catalog: TemplateCatalog) -> None:
    html = render_email(catalog, "welcome/welcome", WELCOME_CONTEXT).html
    assert '<td class="footer" style="padding: 24px 32px 32px 32px;' in html
    assert '<a href="https://u/x" style="color: #71717a;">Unsubscribe</a>' in html
    assert "@media (max-width: 620px)" in html
    assert html.lower().startswith("<!doctype html>")


def test_a_marketing_sms_without_opt_out_instructions_gets_them(folder: TemplateCatalog) -> None:
    sms = render_sms(folder, "j/offer", {"text": "New arrivals are in."}, opt_out=SMS_OPT_OUT)
    assert sms.body == "New arrivals are in. Reply STOP to opt out."
    assert sms.segments.units == len(sms.body)  # counted with the instructions


@pytest.mark.parametrize(
    "text",
    ["Sale! Reply STOP to end.", "Sale! Text STOP to 12345", "Sale!\nSTOP=stop"],
)
def test_an_sms_that_says_stop_already_is_left_alone(folder: TemplateCatalog, text: str) -> None:
    sms = render_sms(folder, "j/offer", {"text": text}, opt_out=SMS_OPT_OUT)
    assert sms.body == " ".join(text.split())


def test_stop_must_be_the_keyword_not_a_word_inside_another(folder: TemplateCatalog) -> None:
    for text in ("Don't stop now", "NONSTOP deals", "STOPPED prices"):
        sms = render_sms(folder, "j/offer", {"text": text}, opt_out=SMS_OPT_OUT)
        assert sms.body.endswith(" " + SMS_OPT_OUT), text


def test_without_opt_out_the_body_is_as_written(folder: TemplateCatalog) -> None:
    assert render_sms(folder, "j/offer", {"text": "Your code is 1234"}).body == "Your code is 1234"


def test_the_opt_out_instructions_count_toward_the_segment_limit(
    folder: TemplateCatalog,
) -> None:
    exactly_one = "x" * 160
    assert (
        render_sms(folder, "j/offer", {"text": exactly_one}, max_segments=1).segments.segments == 1
    )
    with pytest.raises(TemplateError, match="2 segments of GSM-7 \\(max 1\\)"):
        render_sms(folder, "j/offer", {"text": exactly_one}, max_segments=1, opt_out=SMS_OPT_OUT)
