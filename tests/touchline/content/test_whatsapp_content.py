"""WhatsApp content: which form goes when, and approved-template files that are wrong are
named with file and field."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from touchline.content import TemplateCatalog
from touchline.content.whatsapp import approved_template, render_whatsapp
from touchline.errors import TemplateError

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
SID = "HX" + "ab" * 16
CONTEXT = {"customer": {"first_name": "Ada"}, "cart": {"total": 42.5}}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "note.whatsapp.j2").write_text(
        "Hi {{ customer.first_name }},\n\n\n\n   your   cart: {{ cart.total | money }}\n"
    )
    return tmp_path


def sidecar(folder: Path, text: str, name: str = "note.whatsapp.yaml") -> TemplateCatalog:
    (folder / "shop" / name).write_text(text)
    return TemplateCatalog(folder)


def test_free_text_while_the_window_is_open_and_the_template_after(folder: Path) -> None:
    catalog = sidecar(folder, f'content_sid: {SID}\nvariables: {{"2": "{{{{ cart.total | money }}}}", "1": "{{{{ customer.first_name }}}}"}}\n')  # fmt: skip
    inside = render_whatsapp(
        catalog, "shop/note", CONTEXT, None, session_until=NOW + timedelta(hours=3), now=NOW
    )
    assert (inside.form, inside.body) == ("session", "Hi Ada,\n\nyour cart: $42.50")
    for until in (None, NOW, NOW + timedelta(minutes=2)):  # closed, or about to close
        outside = render_whatsapp(catalog, "shop/note", CONTEXT, None, session_until=until, now=NOW)
        assert (outside.form, outside.content_sid, dict(outside.variables)) == (
            "template",
            SID,
            {"1": "Ada", "2": "$42.50"},
        )


def test_without_an_approved_template_free_text_goes_to_the_very_end_of_the_window(
    folder: Path,
) -> None:
    catalog = TemplateCatalog(folder)
    late = render_whatsapp(
        catalog, "shop/note", CONTEXT, None, session_until=NOW + timedelta(minutes=2), now=NOW
    )
    assert late.form == "session"
    with pytest.raises(TemplateError, match="outside the 24-hour WhatsApp session window"):
        render_whatsapp(catalog, "shop/note", CONTEXT, None, session_until=NOW, now=NOW)


def test_a_locale_has_its_own_approved_template(folder: Path) -> None:
    sidecar(folder, f"content_sid: {SID}\n")
    catalog = sidecar(folder, f"content_sid: HX{'cd' * 16}\n", "note.fr.whatsapp.yaml")
    assert approved_template(catalog, "shop/note", "fr-CA").content_sid == f"HX{'cd' * 16}"
    assert approved_template(catalog, "shop/note", "de").content_sid == SID


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("content_sid: [unclosed\n", "shop/note.whatsapp.yaml:2: not valid YAML: expected"),
        ("content_sid: HX123\n", "content_sid: 'HX123' is not a Content Template SID"),
        (f"content_sid: {SID}\nbody: hi\n", "unknown fields: body"),
        (f"content_sid: {SID}\nvariables: {{name: x}}\n", "variables.name: WhatsApp placeholders are numbered"),
        (f'content_sid: {SID}\nvariables: {{"1": "{{{{ customer.first_name "}}\n', "variables.1: unexpected end of template"),
        (f'content_sid: {SID}\nvariables: {{"1": "{{{{ customer.last_name }}}}"}}\n', "variables.1: 'dict object' has no attribute 'last_name'"),
        (f'content_sid: {SID}\nvariables: {{"1": "{{{{ \'\' }}}}"}}\n', "variables.1 rendered empty"),
    ],
)  # fmt: skip
def test_a_wrong_approved_template_is_named_with_its_field(
    folder: Path, text: str, problem: str
) -> None:
    catalog = sidecar(folder, text)
    with pytest.raises(TemplateError) as caught:
        render_whatsapp(catalog, "shop/note", CONTEXT, None, session_until=None, now=NOW)
    assert problem in str(caught.value)
