"""A sink that cannot work says why in one line, naming what to check, never the token."""

from __future__ import annotations

import socket

import pytest

from defi_tui.config import Secret
from defi_tui.sinks.base import ConnectionState, SinkError
from defi_tui.sinks.deltastream import DeltaStreamSink
from support.deltastream_kit import TOKEN, SettingsFactory
from support.deltastream_server import API_PATH, LoopbackDeltaStream


async def open_error(
    make_settings: SettingsFactory, **overrides: object
) -> tuple[str, DeltaStreamSink]:
    sink = DeltaStreamSink(make_settings(**overrides))
    with pytest.raises(SinkError) as caught:
        await sink.open()
    # As the engine does after any open: flush and close must cope with a failed open.
    assert await sink.flush(1) == 0
    await sink.close()
    message = str(caught.value)
    assert "\n" not in message
    assert TOKEN not in message
    assert sink.status().state is ConnectionState.FAILED
    assert sink.status().last_error == message
    return message, sink


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_wrong_token_is_named_as_such(make_settings: SettingsFactory) -> None:
    message, _ = await open_error(make_settings, deltastream_token=Secret("not-" + TOKEN))
    assert "refused the token" in message
    assert "HTTP 403" in message
    assert "DELTASTREAM_TOKEN" in message


async def test_a_server_that_is_not_deltastream_is_named(
    make_settings: SettingsFactory, server: LoopbackDeltaStream
) -> None:
    url = server.url.replace(API_PATH, "/not-the-api")
    message, _ = await open_error(make_settings, deltastream_server_url=url)
    assert message == (
        f"{url} is not a DeltaStream API (HTTP 404 for /version); check DELTASTREAM_SERVER_URL"
    )


async def test_an_unknown_host_is_named(make_settings: SettingsFactory) -> None:
    message, _ = await open_error(
        make_settings, deltastream_server_url="http://no-such-host.invalid/v2"
    )
    assert message == (
        "DeltaStream server 'no-such-host.invalid' is unknown (the name does not resolve); "
        "check DELTASTREAM_SERVER_URL"
    )


async def test_an_unreachable_host_is_named(make_settings: SettingsFactory) -> None:
    url = f"http://127.0.0.1:{closed_port()}/v2"
    message, _ = await open_error(make_settings, deltastream_server_url=url)
    assert message == (
        f"cannot reach DeltaStream at {url}: connection refused; "
        "check DELTASTREAM_SERVER_URL and the network"
    )


async def test_a_missing_database_is_named(make_settings: SettingsFactory) -> None:
    message, _ = await open_error(make_settings, deltastream_database_name="nodb")
    assert message.startswith("DeltaStream database 'nodb' cannot be used (")
    assert "does not exist" in message
    assert message.endswith("check DELTASTREAM_DATABASE_NAME")


async def test_a_missing_store_is_named(make_settings: SettingsFactory) -> None:
    message, _ = await open_error(make_settings, store_name="no_store")
    assert message.startswith("DeltaStream store 'no_store' cannot be used (")
    assert message.endswith("check STORE_NAME")


async def test_a_url_the_sdk_cannot_call_is_named(make_settings: SettingsFactory) -> None:
    message, _ = await open_error(make_settings, deltastream_server_url="api.deltastream.io")
    assert message.startswith("DELTASTREAM_SERVER_URL='api.deltastream.io' is not a URL")


async def test_a_server_that_never_answers_is_bounded_by_the_statement_timeout(
    make_settings: SettingsFactory, server: LoopbackDeltaStream
) -> None:
    server.set_faults(hang=1)  # USE DATABASE hangs
    message, _ = await open_error(make_settings, extra={"deltastream_statement_timeout": 0.3})
    assert message == (
        f"DeltaStream at {server.url} did not answer within 0.3s; "
        "check DELTASTREAM_SERVER_URL and the network"
    )
    assert server.count("hung") == 1


async def test_setup_rides_out_a_brief_503(
    make_settings: SettingsFactory, server: LoopbackDeltaStream
) -> None:
    server.set_faults(statuses=[503, 502])
    sink = DeltaStreamSink(make_settings())
    statuses = await sink.open()
    await sink.close()
    assert all(s.ok for s in statuses)


async def test_a_service_that_stays_unavailable_is_named(
    make_settings: SettingsFactory, server: LoopbackDeltaStream
) -> None:
    server.set_faults(unavailable_rate=1.0)
    message, _ = await open_error(make_settings)
    assert message == (
        f"DeltaStream at {server.url} is unavailable "
        "(HTTP 503: service temporarily unavailable); try again later"
    )
