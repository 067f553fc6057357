"""The token is sent to DeltaStream and nowhere else: not in output, logs, statuses or errors."""

from __future__ import annotations

import logging

import pytest

from defi_tui.config import Secret
from defi_tui.sinks.base import SinkError
from defi_tui.sinks.deltastream import DeltaStreamSink
from support.deltastream_kit import TOKEN, SettingsFactory, records
from support.deltastream_server import LoopbackDeltaStream, SqlFailure

WRONG = "wrong-token-Kp7Rr2Mz"


async def test_the_token_appears_in_no_output_log_status_or_error(
    server: LoopbackDeltaStream,
    make_settings: SettingsFactory,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)  # everything, urllib3's request lines included
    texts: list[str] = []

    # A wrong token at start.
    bad = DeltaStreamSink(make_settings(deltastream_token=Secret(WRONG)))
    with pytest.raises(SinkError) as caught:
        await bad.open()
    texts += [str(caught.value), repr(bad.status()), repr(bad.settings)]

    # A run through 503s, a dropped connection, a timeout, an outage, an error message
    # that echoes the token (a misbehaving proxy), and finally a revoked token.
    sink = DeltaStreamSink(make_settings(extra={"deltastream_statement_timeout": 0.3}))
    await sink.open()
    server.set_faults(unavailable_rate=0.3, drop=1, hang=1)
    server.on_statement = lambda s: _echo_token(s)
    await sink.publish(records(5))
    assert await sink.flush(10) == 0
    echoed = sink.tracker.last_error or ""
    texts.append(echoed)
    server.on_statement = None
    server.go_down()
    await sink.publish(records(1, seed=2))
    await sink.flush(0.5)
    texts.append(repr(sink.status()))
    server.come_up()
    assert await sink.flush(10) == 0
    server.set_faults(forbid=True, unavailable_rate=0.0)
    await sink.publish(records(1, seed=3))
    await sink.flush(5)
    await sink.close()
    texts += [repr(sink.status()), repr(sink.tracker.last_error), repr(sink.settings)]
    texts += [repr(s) for s in sink.status().entities]

    captured = capsys.readouterr()
    texts += [captured.out, captured.err, caplog.text]
    assert "Bearer" not in caplog.text
    for text in texts:
        assert TOKEN not in text
        assert WRONG not in text
    # The echoed error was kept, with the token masked.
    assert echoed == "mempool_data: token ******** is not welcome here (SQL state 42601)"


def _echo_token(statement: str) -> None:
    if '"mempool_data"' in statement and "INSERT" in statement:
        raise SqlFailure("42601", f"token {TOKEN} is not welcome here")
