"""The console channel: every message a JSON line, read back to settle interrupted sends."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from channels import (
    EmailMessage,
    InDoubt,
    ProviderConfigurationError,
    SmsMessage,
    build_channels,
    content_digest,
)
from channels.console import ConsoleChannel, console_channels
from sandbox import SandboxClient
from tests.conftest import START
from tests.touchline.engine.test_advance import advance, send_events, signup
from touchline.config import Settings
from touchline.db import Database
from touchline.engine import Engine
from touchline.engine.dispatch import Outgoing, RetryPolicy, dispatch
from touchline.record import Interaction

SINCE = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def sms(touch: str, dispatch_id: str = "d1", body: str = "Hello") -> SmsMessage:
    return SmsMessage(touch_id=touch, to="+14155550100", body=body, dispatch_id=dispatch_id)


def test_each_message_is_one_json_line_with_a_receipt(tmp_path: Path) -> None:
    path = tmp_path / "out" / "messages.jsonl"
    channel = ConsoleChannel("sms", path)
    receipt = channel.send(sms("t1"))
    email = ConsoleChannel("email", path).send(
        EmailMessage("t2", "ada@example.com", "Welcome", "<p>Hi</p>", "Hi", headers={"X": "1"})
    )
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["touch_id"] for line in lines] == ["t1", "t2"]
    assert lines[0]["provider_message_id"] == receipt.provider_message_id
    assert (receipt.provider, receipt.status) == ("console", "written")
    assert lines[0]["message"]["body"] == "Hello" and lines[0]["kind"] == "SmsMessage"
    assert lines[1]["message"]["subject"] == "Welcome" and lines[1]["channel"] == "email"
    assert lines[1]["message"]["headers"] == {"X": "1"}
    assert email.provider_message_id != receipt.provider_message_id


def test_stdout_gets_the_lines_when_the_path_is_a_dash(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ConsoleChannel("sms", "-").send(sms("t1"))
    assert json.loads(capsys.readouterr().out)["touch_id"] == "t1"


def test_find_sent_reads_the_file_back(tmp_path: Path) -> None:
    path = tmp_path / "messages.jsonl"
    channel = ConsoleChannel("sms", path)
    written = channel.send(sms("t1"))
    channel.send(sms("t3", dispatch_id="d-other"))
    with path.open("a") as out:
        out.write('{"touch_id": "t9", "cut short by a cra')  # a crash mid-write

    def doubt(touch: str, dispatch_id: str = "d1", body: str = "Hello") -> InDoubt:
        digest = content_digest(sms(touch, body=body))
        return InDoubt(touch, "+14155550100", digest, dispatch_id, SINCE)

    found = channel.find_sent(
        [doubt("t1"), doubt("t2"), doubt("t3"), doubt("t9")], known_ids=frozenset()
    )
    # t2 was never written; t3 was, by another attempt; t9's line is incomplete
    assert list(found) == ["t1"]
    assert found["t1"].provider_message_id == written.provider_message_id
    # an id the record already gives to another touch is never claimed twice
    assert channel.find_sent([doubt("t1")], frozenset({written.provider_message_id})) == {}
    # different content under the same attempt is not this message
    assert channel.find_sent([doubt("t1", body="Other")], frozenset()) == {}
    assert (
        ConsoleChannel("sms", tmp_path / "none.jsonl").find_sent([doubt("t1")], frozenset()) == {}
    )


def test_stdout_cannot_be_asked_and_says_so() -> None:
    with pytest.raises(ProviderConfigurationError, match="TOUCHLINE_CONSOLE_CHANNEL_PATH"):
        ConsoleChannel("sms", "-").find_sent(
            [InDoubt("t1", "+14155550100", "d", "d1", SINCE)], frozenset()
        )


def test_an_unwritable_path_is_a_configuration_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ProviderConfigurationError, match="cannot write"):
        ConsoleChannel("sms", blocker / "messages.jsonl").send(sms("t1"))


def test_the_override_makes_every_channel_a_console_channel(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path, channel_override="console", console_channel_path=str(tmp_path / "o.jsonl")
    )
    channels = build_channels(settings)
    assert set(channels) == {"email", "sms", "whatsapp", "x"}
    assert all(isinstance(c, ConsoleChannel) and c.name == n for n, c in channels.items())
    # the default path lives under the home directory
    default = build_channels(Settings(home=tmp_path, channel_override="console"))
    default["x"].send(sms("t1"))
    assert (tmp_path / "console.jsonl").exists()


def test_concurrent_dispatch_writes_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "messages.jsonl"
    channels = console_channels(["sms", "email"], path)
    outgoing = [Outgoing(f"t{i}", "sms", sms(f"t{i}", body="x" * 5000)) for i in range(200)]
    results = dispatch(channels, outgoing, concurrency=16, retry=RetryPolicy(1))
    assert all(r.receipt is not None for r in results)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(line["touch_id"] for line in lines) == sorted(f"t{i}" for i in range(200))


@pytest.mark.usefixtures("published")
def test_a_dry_run_through_the_engine_writes_instead_of_sending(
    settings: Settings, db: Database, tmp_path: Path, sandbox_client: SandboxClient
) -> None:
    path = tmp_path / "dry-run.jsonl"
    dry = settings.model_copy(
        update={"channel_override": "console", "console_channel_path": str(path)}
    )
    engine = Engine.from_settings(dry, db)
    try:
        send_events(db, signup("c1"), signup("c2"))
        assert advance(engine, START).count("sent") == 2
    finally:
        engine.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(line["message"]["to"] for line in lines) == ["c1@example.com", "c2@example.com"]
    assert all(line["channel"] == "email" and line["dispatch_id"] for line in lines)
    with db.session() as session:
        sent = session.execute(
            select(Interaction.provider, Interaction.provider_message_id).where(
                Interaction.kind == "sent"
            )
        ).all()
    assert sorted(id_ for _, id_ in sent) == sorted(line["provider_message_id"] for line in lines)
    assert {provider for provider, _ in sent} == {"console"}
    assert sandbox_client.stats()["requests"] == {}  # nothing reached a provider
