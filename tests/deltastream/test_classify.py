"""Classification of what the real SDK raises, whatever wrapper it puts around the cause."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from defi_tui.config import Secret
from defi_tui.sinks.deltastream_client import DeltaStreamOptions, make_client
from defi_tui.sinks.deltastream_errors import Fault, FaultKind, Network, classify
from support.deltastream_kit import TOKEN, SettingsFactory
from support.deltastream_server import LoopbackDeltaStream, SqlFailure

T, P, A = FaultKind.TRANSIENT, FaultKind.PERMANENT, FaultKind.AUTH


def insert_error(make_settings: SettingsFactory, **overrides: Any) -> BaseException:
    """What one real ``insert_values`` raises (run on its own loop, as the sink's workers do)."""
    settings = make_settings(**overrides)
    client = make_client(settings, DeltaStreamOptions.from_settings(settings), use_database=False)
    try:
        asyncio.run(
            client.entities.insert_values("dex_prices", values=[{"a": 1}], store="kafka_store")
        )
    except Exception as exc:
        return exc
    raise AssertionError("the insert succeeded")


@pytest.mark.parametrize(
    ("status", "kind"),
    [(500, T), (502, T), (503, T), (504, T), (408, T), (429, T), (400, P), (404, P), (403, A)],
)
def test_http_statuses(
    server: LoopbackDeltaStream, make_settings: SettingsFactory, status: int, kind: FaultKind
) -> None:
    server.add_entity("dex_prices")
    server.set_faults(statuses=[status])
    fault = classify(insert_error(make_settings), Secret(TOKEN))
    assert (fault.kind, fault.status) == (kind, status)


@pytest.mark.parametrize(
    ("state", "kind"),
    [("57015", T), ("3E001", T), ("57014", T), ("42601", P), ("3D007", P), ("3D012", A)],
)
def test_sql_states(
    server: LoopbackDeltaStream, make_settings: SettingsFactory, state: str, kind: FaultKind
) -> None:
    def fail(statement: str) -> None:
        raise SqlFailure(state, f"failure {state}")

    server.on_statement = fail
    fault = classify(insert_error(make_settings), Secret(TOKEN))
    assert (fault.kind, fault.sql_state) == (kind, state)


def test_network_failures(server: LoopbackDeltaStream, make_settings: SettingsFactory) -> None:
    server.add_entity("dex_prices")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    refused = classify(
        insert_error(make_settings, deltastream_server_url=f"http://127.0.0.1:{port}/v2")
    )
    unknown = classify(
        insert_error(make_settings, deltastream_server_url="http://no-such-host.invalid/v2")
    )
    server.set_faults(drop=1)
    dropped = classify(insert_error(make_settings))
    server.set_faults(hang=1)
    hung = classify(insert_error(make_settings, extra={"deltastream_statement_timeout": 0.2}))

    assert refused == Fault(T, "connection refused", network=Network.REFUSED)
    assert unknown == Fault(T, "unknown host", network=Network.UNKNOWN_HOST)
    assert dropped == Fault(T, "connection dropped", network=Network.DROPPED)
    assert hung == Fault(T, "timed out", network=Network.TIMEOUT)


def test_a_token_in_an_error_message_is_masked(
    server: LoopbackDeltaStream, make_settings: SettingsFactory
) -> None:
    def fail(statement: str) -> None:
        raise SqlFailure("42601", f"bad statement from Bearer {TOKEN}")

    server.on_statement = fail
    fault = classify(insert_error(make_settings), Secret(TOKEN))
    assert fault.message == "bad statement from Bearer ******** (SQL state 42601)"
