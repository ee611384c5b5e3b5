"""A template error at send time: by default the enrollment ends (the customer never got
this message, so the follow-up must not come); ``on_error: continue`` moves on."""

from datetime import timedelta

import pytest

from sandbox import SandboxClient
from tests.conftest import START
from tests.touchline.engine.test_language import advance, customer, enrollments, journey, send
from tests.touchline.journeys.test_loader import problems
from touchline.content import TemplateCatalog
from touchline.db import Database
from touchline.engine import Engine

TWO_STEPS = """key: test
name: Test
trigger: {event: customer.signed_up}
context:
  offer: {code: TEST10, discount_percent: 10, valid_days: 7}
  shop_url: https://shop.example/
steps:
  - {id: hello, type: send, channel: email, template: cart/reminder%s}
  - {id: later, type: wait, duration: 1d}
  - {id: nudge, type: send, channel: sms, template: welcome/nudge}
"""


@pytest.mark.parametrize(("on_error", "status"), [("", "exited"), ("continue", "completed")])
def test_a_template_error_ends_the_enrollment_unless_the_step_continues(
    on_error: str,
    status: str,
    engine: Engine,
    db: Database,
    catalog: TemplateCatalog,
    sandbox_client: SandboxClient,
) -> None:
    journey(db, catalog, TWO_STEPS % (f", on_error: {on_error}" if on_error else ""))
    send(db, customer("c1"))  # a sign-up has no cart: the reminder cannot render
    advance(engine, START)
    advance(engine, START + timedelta(days=1))
    ended = enrollments(db)["c1"]
    assert ended.status == status
    if on_error:
        assert len(sandbox_client.sms()) == 1  # asked for: the follow-up still goes
    else:
        assert ended.end_reason.startswith("template error: cart/reminder")
        assert not sandbox_client.sms()  # no follow-up to an email that never went
    assert not sandbox_client.emails()


def test_the_loader_refuses_an_unknown_on_error(catalog: TemplateCatalog) -> None:
    found = problems(TWO_STEPS % ", on_error: retry", catalog)
    assert any("steps[0].on_error" in p and "'exit' or 'continue'" in p for p in found), found
