from pathlib import Path

import pytest

from touchline.config import PROJECT_ROOT
from touchline.content import TemplateCatalog
from touchline.errors import JourneyValidationError
from touchline.journeys import load_journey, load_journeys
from touchline.journeys.loader import parse_journey
from touchline.journeys.model import BranchStep, SendStep, WaitStep

WELCOME = (PROJECT_ROOT / "journeys" / "welcome.yaml").read_text()


def problems(text: str, catalog: TemplateCatalog) -> list[str]:
    with pytest.raises(JourneyValidationError) as caught:
        parse_journey(text, "j.yaml", catalog)
    return [str(p) for p in caught.value.problems]


def test_the_welcome_journey_loads(catalog: TemplateCatalog) -> None:
    journey = load_journey(PROJECT_ROOT / "journeys" / "welcome.yaml", catalog).definition
    assert journey.trigger.event == "customer.signed_up"
    assert journey.exit_on == ["customer.first_purchase"]
    email, wait, branch, sms = journey.steps
    assert isinstance(email, SendStep) and email.candidate_channels == ("email",)
    assert isinstance(wait, WaitStep) and wait.duration.days == 2
    assert isinstance(branch, BranchStep) and branch.then == "exit"
    assert isinstance(sms, SendStep) and sms.candidate_channels == ("sms",)


@pytest.mark.parametrize(
    ("old", "new", "anchor", "field", "message"),
    [
        # anchor: the text of the line the problem must point at (its last occurrence)
        (
            "duration: 2d",
            "duration: 2",
            "duration: 2",
            "steps[1].duration",
            "a duration needs a unit",
        ),
        (
            "duration: 2d",
            "duration: soon",
            "duration: soon",
            "steps[1].duration",
            "'soon' is not a duration",
        ),
        ("type: wait", "type: pause", "type: pause", "steps[1].type", "unknown step type"),
        (
            "channel: sms",
            "channel: fax",
            "channel: fax",
            "steps[3].channel",
            "unknown channel 'fax'",
        ),
        ("then: exit", "then: nowhere", "then: nowhere", "steps[2].then", "no step 'nowhere'"),
        (
            "step: welcome_email",
            "step: wait_two_days",
            "if: {step: wait_two_days",
            "steps[2].if.step",
            "'wait_two_days' is not a send step",
        ),
        (
            "template: welcome/nudge",
            "template: welcome/absent",
            "template: welcome/absent",
            "steps[3].template",
            "sms needs welcome/absent.sms.j2",
        ),
        (
            "event: customer.signed_up",
            "event: Signed Up",
            "event: Signed Up",
            "trigger.event",
            "'Signed Up' is not an event type",
        ),
        (
            "  - id: wait_two_days",
            "  - id: welcome_email",
            "- id: welcome_email",
            "steps[1].id",
            "step id 'welcome_email' is used twice",
        ),
        (
            "reentry: once",
            "reentry: sometimes",
            "reentry: sometimes",
            "reentry",
            "Input should be 'once', 'window' or 'every_event'",
        ),
        ("purpose: marketing", "colour: blue", "colour: blue", "colour", "is not a field here"),
        (
            "  shop_url:",
            "  customer: {}\n  shop_url:",
            "context:",
            "context",
            "customer cannot be set here",
        ),
    ],
)
def test_problems_name_file_line_field_and_what_is_wrong(
    old: str, new: str, anchor: str, field: str, message: str, catalog: TemplateCatalog
) -> None:
    assert old in WELCOME, old
    changed = WELCOME.replace(old, new, 1)
    line = max(
        i for i, text in enumerate(changed.splitlines(), start=1) if text.strip().startswith(anchor)
    )
    found = problems(changed, catalog)
    wanted = f"j.yaml:{line}: {field}: {message}"
    assert any(p.startswith(wanted) for p in found), (wanted, found)


def test_a_required_field_is_named(catalog: TemplateCatalog) -> None:
    found = problems("key: x\nname: X\nsteps:\n  - {id: a, type: wait, duration: 1d}\n", catalog)
    assert found == ["j.yaml:1: trigger: 'trigger' is required"]


def test_duplicate_keys_are_refused_not_silently_overwritten(catalog: TemplateCatalog) -> None:
    assert problems(WELCOME.replace("key: welcome", "key: welcome\nkey: hello"), catalog)[
        0
    ].startswith("j.yaml:5: key: appears twice (first on line 4)")


def test_yaml_syntax_errors_carry_the_line(catalog: TemplateCatalog) -> None:
    assert problems("key: x\nsteps: [unclosed\n", catalog)[0].startswith("j.yaml:3: not valid YAML")


def test_loops_without_a_wait_are_refused(catalog: TemplateCatalog) -> None:
    text = """key: loop
name: Loop
trigger: {event: a.b}
steps:
  - {id: a, type: branch, if: {attribute: vip, equals: true}, then: b}
  - {id: b, type: branch, if: {attribute: vip, equals: true}, then: a}
"""
    assert "loop without a wait" in problems(text, catalog)[0]


def test_a_loop_through_a_wait_is_fine(catalog: TemplateCatalog) -> None:
    text = """key: loop
name: Loop
trigger: {event: a.b}
steps:
  - {id: pause, type: wait, duration: 1d}
  - {id: again, type: branch, if: {attribute: vip, equals: true}, then: pause}
"""
    assert parse_journey(text, "j.yaml", catalog).key == "loop"


def test_template_syntax_errors_are_found_at_load(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "x.sms.j2").write_text("Hi {{ name ")
    text = "key: t\nname: T\ntrigger: {event: a.b}\nsteps:\n  - {id: s, type: send, channel: sms, template: t/x}\n"
    found = problems(text, TemplateCatalog(tmp_path))
    assert found[0].startswith("j.yaml:5: steps[0].template: t/x.sms.j2:1:")


def test_several_files_report_together_and_keys_must_be_unique(
    tmp_path: Path, catalog: TemplateCatalog
) -> None:
    (tmp_path / "a.yaml").write_text(WELCOME)
    (tmp_path / "b.yaml").write_text(WELCOME)
    (tmp_path / "c.yaml").write_text("key: [")
    with pytest.raises(JourneyValidationError) as caught:
        load_journeys(sorted(tmp_path.glob("*.yaml")), catalog)
    text = str(caught.value)
    assert "c.yaml:2: not valid YAML" in text or "c.yaml:1: not valid YAML" in text
    assert "b.yaml: key: 'welcome' is also the key of" in text


def test_a_template_variable_nobody_provides_is_reported_at_load(catalog: TemplateCatalog) -> None:
    without_offer = (
        WELCOME.replace("    code: WELCOME15\n", "").split("context:")[0]
        + WELCOME.split("  shop_url: https://shop.touchline.example/new\n")[1]
    )
    found = problems(without_offer, catalog)
    assert any(
        "welcome/welcome.html.j2 uses offer, shop_url, which neither Touchline nor the journey's context provides"
        in p
        for p in found
    ), found
