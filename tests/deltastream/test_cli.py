"""``defi-event-generator`` with DeltaStream: entity setup lines, status lines, the commands."""

from __future__ import annotations

import io
import re
import threading

import pytest

from defi_tui import cli
from defi_tui.events import TOPICS
from support.deltastream_kit import TOKEN, SettingsFactory
from support.deltastream_server import LoopbackDeltaStream


@pytest.fixture
def env(server: LoopbackDeltaStream, monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials in the environment, as a user sets them (SINK=auto picks DeltaStream)."""
    monkeypatch.setenv("DELTASTREAM_TOKEN", TOKEN)
    monkeypatch.setenv("DELTASTREAM_ORG_ID", server.organization_id)
    monkeypatch.setenv("DELTASTREAM_SERVER_URL", server.url)
    monkeypatch.setenv("DELTASTREAM_DATABASE_NAME", "defi_db")


def run_main(argv: list[str]) -> int:
    # The CLI writes to the streams it was given at import: capture at the fd level (capfd).
    with pytest.raises(SystemExit) as exited:
        cli.main(argv)
    return int(exited.value.code or 0)


def test_a_run_sets_up_entities_and_delivers_every_record(
    env: None, server: LoopbackDeltaStream, capfd: pytest.CaptureFixture[str]
) -> None:
    assert run_main(["--count", "30", "--seed", "1"]) == 0

    out, err = capfd.readouterr()
    assert "=== ENTITY SETUP ===" in out
    for topic in TOPICS:
        assert f"✅ Created entity '{topic}' (store kafka_store, 3 partitions, 1 replica)" in out
    assert re.search(r"^total\s+30\s+30\s+0\s+0\s+0$", out, re.M), out
    assert server.count("inserts") == 30
    assert TOKEN not in out + err


def test_a_wrong_token_ends_the_run_with_one_line(
    env: None, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DELTASTREAM_TOKEN", "bad-" + TOKEN)

    assert run_main(["--count", "3"]) == 1

    out, err = capfd.readouterr()
    assert err.count("\n") == 1
    assert err.startswith("defi-event-generator: error: DeltaStream at ")
    assert "refused the token" in err
    assert TOKEN not in out + err


async def test_the_console_says_when_deltastream_is_retrying_and_when_it_is_back(
    server: LoopbackDeltaStream, make_settings: SettingsFactory
) -> None:
    state = {"tripped": False}

    def outage_at_first_insert(statement: str) -> None:
        if statement.startswith("INSERT") and not state["tripped"]:
            state["tripped"] = True
            server.set_faults(unavailable_rate=1.0)
            timer = threading.Timer(1.6, server.set_faults, kwargs={"unavailable_rate": 0.0})
            timer.daemon = True
            timer.start()

    server.on_statement = outage_at_first_insert
    out, err = io.StringIO(), io.StringIO()
    settings = make_settings(count=30, rate=0.0, seed=1, seed_given=True, flush_timeout=20.0)

    assert await cli.run(settings, out, err) == 0

    text = out.getvalue()
    assert re.search(
        r"^⚠️  deltastream unavailable since \d\d:\d\d:\d\d: HTTP 503: service temporarily "
        r"unavailable; retrying, \d+ records waiting$",
        text,
        re.M,
    ), text
    assert re.search(r"^✅ deltastream reachable again after \d+\.\ds$", text, re.M), text
    assert re.search(r"^total\s+30\s+30\s+0\s+0\s+0$", text, re.M), text


def test_create_streams_command(
    env: None, server: LoopbackDeltaStream, capfd: pytest.CaptureFixture[str]
) -> None:
    assert run_main(["--create-streams"]) == 0

    out, _ = capfd.readouterr()
    assert "=== STREAMS ===" in out
    assert "✅ Created stream 'dex_prices' over entity 'dex_prices' (JSON, event time)" in out
    assert sorted(server.streams) == sorted(TOPICS)


def test_drop_entities_command_with_yes(
    env: None, server: LoopbackDeltaStream, capfd: pytest.CaptureFixture[str]
) -> None:
    for topic in TOPICS:
        server.add_entity(topic)

    assert run_main(["--drop-entities", "--yes"]) == 0

    out, _ = capfd.readouterr()
    assert out.splitlines() == [f"🗑️  Dropped entity '{t}'" for t in TOPICS]
    assert server.stores["kafka_store"] == {}


async def test_drop_entities_asks_and_a_no_keeps_everything(
    server: LoopbackDeltaStream, make_settings: SettingsFactory
) -> None:
    server.add_entity("dex_prices")
    asked: list[str] = []
    out, err = io.StringIO(), io.StringIO()

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return "n"

    settings = make_settings(extra={"drop_entities": True})
    assert await cli.run_deltastream_command(settings, out, err, ask) == 0

    assert asked == [
        "Drop entity 'dex_prices' in DeltaStream (store 'kafka_store')? "
        "The entities' records are deleted with them. [y/N] "
    ]
    assert out.getvalue() == "Nothing dropped.\n"
    assert "dex_prices" in server.stores["kafka_store"]


def test_the_commands_need_deltastream(capfd: pytest.CaptureFixture[str]) -> None:
    assert run_main(["--create-streams"]) == 2

    _, err = capfd.readouterr()
    assert err == (
        "defi-event-generator: error: --create-streams works on DeltaStream but the sink is "
        "'local'; allowed: set DELTASTREAM_TOKEN and DELTASTREAM_ORG_ID "
        "(SINK auto or deltastream)\n"
    )
