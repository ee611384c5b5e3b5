"""`journeys validate` checks what templates read against the attribute catalogue (with
"did you mean"), and the event types a journey names against the tracking plan."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from touchline.cli import app
from touchline.config import PROJECT_ROOT, reset_settings_cache
from touchline.content import TemplateCatalog
from touchline.intake.tracking_plan import load_plan
from touchline.journeys import load_journey
from touchline.journeys.attributes import check_attributes, load_catalogue

runner = CliRunner()


def flat(output: str) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(output.split())


JOURNEY = """key: promo
name: Promo
trigger: {trigger}
exit_on: [{exit}]
steps:
  - {{id: hello, type: send, channel: email, template: promo/hello}}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "templates" / "promo").mkdir(parents=True)
    (tmp_path / "journeys").mkdir()
    monkeypatch.setenv("TOUCHLINE_TEMPLATES_DIR", str(tmp_path / "templates"))
    monkeypatch.setenv("TOUCHLINE_JOURNEYS_DIR", str(tmp_path / "journeys"))
    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", f"sqlite:///{tmp_path / 't.db'}")
    monkeypatch.setenv("COLUMNS", "250")
    reset_settings_cache()
    yield tmp_path
    reset_settings_cache()


def write(project: Path, subject: str, text: str = "Hi {{ customer.first_name }}",
          trigger: str = "{event: cart.abandoned}", exit: str = "order.placed",
          extra: str = "") -> Path:  # fmt: skip
    folder = project / "templates" / "promo"
    (folder / "hello.subject.j2").write_text(subject)
    (folder / "hello.text.j2").write_text(text)
    (folder / "hello.html.j2").write_text("<p>{{ company.name }} {{ links.unsubscribe }}</p>")
    path = project / "journeys" / "promo.yaml"
    path.write_text(JOURNEY.format(trigger=trigger, exit=exit) + extra)
    return path


def test_a_misspelt_customer_attribute_is_caught_with_a_suggestion(project: Path) -> None:
    path = write(project, "{{ customer.frist_name }}, your cart")
    result = runner.invoke(app, ["journeys", "validate", str(path)])
    assert result.exit_code == 1
    assert (
        "steps[0].template: promo/hello.subject.j2:1: customer.frist_name is not declared in "
        "attributes.yaml nor the journey's `attributes: {customer: [...]}`; did you mean "
        "customer.first_name?"
    ) in flat(result.output)


def test_context_names_and_payload_fields_are_checked_too(project: Path) -> None:
    path = write(
        project,
        "{{ enrollment.entred_at }} {{ event.payload.cart.total }} {{ event.payload.kart }}",
        text="{{ links.unsubscribe_url }}"
        "{% for item in event.payload.cart['items'] %}{{ item.name }}{% endfor %}",
    )
    catalog = TemplateCatalog(project / "templates")
    definition = load_journey(path, catalog).definition
    problems = [
        p.message
        for p in check_attributes(
            definition, catalog, load_catalogue(PROJECT_ROOT / "attributes.yaml"),
            load_plan(PROJECT_ROOT / "events.yaml"),
        )
    ]  # fmt: skip
    assert problems == [
        "promo/hello.subject.j2:1: enrollment.entred_at is not declared in the template context "
        "(docs/templates.md); did you mean enrollment.entered_at?",
        "promo/hello.subject.j2:1: event.payload.kart is not declared in the tracking plan's "
        "payload of cart.abandoned; did you mean event.payload.cart?",
        "promo/hello.text.j2:1: links.unsubscribe_url is not declared in the template context "
        "(docs/templates.md); did you mean links.unsubscribe?",
    ]


def test_a_launched_journeys_segment_columns_are_declared(project: Path) -> None:
    path = write(project, "{{ segment.last_category }} in {{ segment.stor }}", trigger="segment")
    result = runner.invoke(app, ["journeys", "validate", str(path)])
    assert result.exit_code == 1
    assert ("segment.last_category is not declared in attributes.yaml (segment:) nor the "
            "journey's `attributes: {segment: [...]}`") in flat(result.output)  # fmt: skip
    assert "segment.stor is not declared" in flat(result.output)
    assert "did you mean segment.store?" in flat(result.output)
    path = write(project, "{{ segment.last_category }} in {{ segment.store }}", trigger="segment",
                 extra="attributes: {segment: [last_category]}\n")  # fmt: skip
    assert runner.invoke(app, ["journeys", "validate", str(path)]).exit_code == 0


def test_a_journey_may_declare_its_own_attributes(project: Path) -> None:
    path = write(project, "{{ customer.loyalty_tier }} {{ customer.id }}",
                 extra="attributes: {customer: [loyalty_tier]}\n")  # fmt: skip
    result = runner.invoke(app, ["journeys", "validate", str(path)])
    assert result.exit_code == 0, result.output


def test_undeclared_event_types_fail_validation(project: Path) -> None:
    path = write(project, "Your cart", trigger="{event: cart.abandonned}", exit="order.plced")
    result = runner.invoke(app, ["journeys", "validate", str(path)])
    assert result.exit_code == 1
    assert ("trigger.event: unknown event type 'cart.abandonned'; did you mean 'cart.abandoned'?"
            in flat(result.output))  # fmt: skip
    assert "exit_on[0]: unknown event type 'order.plced'; did you mean 'order.placed'?" in flat(
        result.output
    )
    imported = write(project, "Hello", trigger="{event: customer.imported}")
    result = runner.invoke(app, ["journeys", "validate", str(imported)])
    assert "'customer.imported' may not start journeys (triggers_journeys: false" in flat(
        result.output
    )


def test_the_project_declares_everything_its_journeys_use() -> None:
    result = runner.invoke(app, ["journeys", "validate"])
    assert result.exit_code == 0, result.output


def test_the_approved_whatsapp_templates_variables_are_checked(project: Path) -> None:
    path = write(project, "Your cart")
    folder = project / "templates" / "promo"
    (folder / "hello.whatsapp.j2").write_text("Hi {{ customer.first_name }}")
    (folder / "hello.whatsapp.yaml").write_text(
        'content_sid: HX3c1f0a9b8e7d6c5b4a39281706f5e4d3\nvariables:\n  "1": "{{ customer.firstname }}"\n'
    )
    path.write_text(path.read_text().replace("channel: email", "channel: whatsapp"))
    result = runner.invoke(app, ["journeys", "validate", str(path)])
    assert result.exit_code == 1
    assert ("promo/hello.whatsapp.yaml:1: customer.firstname is not declared" in flat(result.output))  # fmt: skip
    assert "did you mean customer.first_name?" in flat(result.output)
