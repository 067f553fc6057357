"""DeltaStream SDK plumbing for the deltastream sink: a bounded client on its own thread.

Internal to :mod:`defi_tui.sinks.deltastream` and its commands. It holds the
three things every call to DeltaStream needs here:

- a ``DeltaStreamClient`` whose every HTTP request has a timeout (the SDK sets
  none, so a server that never answers would hang its caller forever);
- a :class:`Worker`: a thread with its own event loop that runs SDK coroutines,
  because the SDK's HTTP client is synchronous under ``async def`` and would
  block whatever loop awaited it;
- a :class:`SetupClient` for setup and commands: the connection check, ``USE
  DATABASE``, one ``LIST ENTITIES`` of the store, entity creation, and the
  one-line error that names what the user should check.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from deltastream.api.conn import APIConnection  # type: ignore[import-untyped]
from deltastream.api.controlplane.openapi_client.rest import RESTClientObject
from deltastream_sdk import DeltaStreamClient  # type: ignore[import-untyped]

from ..config import OPTIONS, Settings
from ..events import TOPICS
from .base import EntityState, EntityStatus, SinkError
from .deltastream_errors import (
    MISSING_DATABASE,
    MISSING_STORE,
    Fault,
    FaultKind,
    Network,
    classify,
    one_line,
    scrub,
)

log = logging.getLogger("defi_tui.sinks.deltastream")

T = TypeVar("T")

DEFAULT_SERVER_URL = "https://api.deltastream.io/v2"
"""The SDK's production URL, used when ``DELTASTREAM_SERVER_URL`` is not set."""
RETRY_INITIAL = 0.1
"""Seconds before the first retry; each further one waits twice as long, up to the maximum."""
SETUP_ATTEMPTS = 3
"""Tries of each setup statement against a service that answers 5xx."""

_DEFAULTS = {opt.name: opt.default for opt in OPTIONS}


@dataclass(frozen=True)
class DeltaStreamOptions:
    """The sink's own settings, read from ``Settings.extra`` (defaults from the option table)."""

    partitions: int
    replicas: int
    retention_ms: int
    statement_timeout: float
    retry_max: float
    in_flight: int

    @classmethod
    def from_settings(cls, settings: Settings) -> DeltaStreamOptions:
        extra = settings.extra

        def get(name: str) -> Any:
            return extra.get(name, _DEFAULTS[name])

        return cls(
            partitions=int(get("deltastream_partitions")),
            replicas=int(get("deltastream_replicas")),
            retention_ms=int(get("deltastream_retention_ms")),
            statement_timeout=float(get("deltastream_statement_timeout")),
            retry_max=float(get("deltastream_retry_max")),
            in_flight=int(get("deltastream_in_flight")),
        )


# --- SQL the sink sends itself --------------------------------------------------------------


def quote_ident(name: str) -> str:
    """A DeltaStream identifier, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


def quote_text(value: str) -> str:
    """A DeltaStream string literal, single-quoted."""
    return "'" + value.replace("'", "''") + "'"


def create_entity_sql(name: str, store: str, options: DeltaStreamOptions) -> str:
    """``CREATE ENTITY`` with the original example's parameters (overridable)."""
    return (
        f"CREATE ENTITY {quote_ident(name)} IN STORE {quote_ident(store)} WITH ("
        f"'kafka.partitions' = {options.partitions}, "
        f"'kafka.replicas' = {options.replicas}, "
        f"'kafka.topic.retention.ms' = {quote_text(str(options.retention_ms))})"
    )


def execute(sql: str) -> Callable[[Any], Awaitable[None]]:
    """A job running one statement through the SDK (``execute_sql`` adds the semicolon)."""

    async def job(client: Any) -> None:
        await client.execute_sql(sql)

    return job


# --- the SDK client, bounded and on its own thread -----------------------------------------


class _BoundedRESTClient(RESTClientObject):
    """The connector's REST client with a timeout on every request.

    The SDK never passes ``_request_timeout``, so urllib3 would wait forever
    on a server that accepts a request and never answers.
    """

    def __init__(self, configuration: Any, timeout: float) -> None:
        super().__init__(configuration)
        self._timeout = timeout

    def request(
        self,
        method: str,
        url: str,
        headers: Any = None,
        body: Any = None,
        post_params: Any = None,
        _request_timeout: Any = None,
    ) -> Any:
        return super().request(  # type: ignore[no-untyped-call]
            method,
            url,
            headers=headers,
            body=body,
            post_params=post_params,
            _request_timeout=_request_timeout or self._timeout,
        )


class _BoundedConnection(APIConnection):  # type: ignore[misc]
    """``APIConnection`` whose API client is built with :class:`_BoundedRESTClient`."""

    def __init__(self, statement_timeout: float, **kwargs: Any) -> None:
        # Set before the base initialiser, which builds the API through _create_api.
        self._statement_timeout = statement_timeout
        super().__init__(**kwargs)

    def _create_api(self) -> Any:
        api = super()._create_api()
        api_client = api.api_client
        api_client.rest_client = _BoundedRESTClient(
            api_client.configuration, self._statement_timeout
        )
        return api


def make_client(settings: Settings, options: DeltaStreamOptions, *, use_database: bool) -> Any:
    """A ``DeltaStreamClient`` for ``settings``; no I/O happens here.

    Args:
        settings: credentials, server URL, database.
        options: the statement timeout.
        use_database: put the database in the client's context (what
            ``USE DATABASE`` leaves behind), for clients that skip the statement.

    Raises:
        SinkError: the organization id is not a UUID.
    """
    secret = settings.deltastream_token

    async def token_provider() -> str:
        # The one place the token leaves its Secret: the SDK's Authorization header.
        return secret.reveal() if secret is not None else ""

    try:
        connection = _BoundedConnection(
            options.statement_timeout,
            server_url=server_url(settings),
            token_provider=token_provider,
            session_id=None,
            timezone="UTC",
            organization_id=settings.deltastream_org_id,
            role_name=None,
            database_name=settings.deltastream_database_name if use_database else None,
            schema_name=None,
            store_name=None,
        )
    except (ValueError, TypeError):
        raise SinkError(
            f"DELTASTREAM_ORG_ID={settings.deltastream_org_id!r} is not accepted by the SDK; "
            "allowed: a UUID such as 123e4567-e89b-12d3-a456-426614174000"
        ) from None
    return DeltaStreamClient(connection=connection)


def server_url(settings: Settings) -> str:
    """The API base URL: ``DELTASTREAM_SERVER_URL`` or the SDK's production URL.

    Raises:
        SinkError: the URL is not an http(s) URL with a host.
    """
    url = (settings.deltastream_server_url or DEFAULT_SERVER_URL).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SinkError(
            f"DELTASTREAM_SERVER_URL={url!r} is not a URL the SDK can call; "
            "allowed: http(s)://host[:port]/path such as https://api.deltastream.io/v2"
        )
    return url


class Worker:
    """A thread with its own event loop and SDK client; runs SDK coroutines one at a time."""

    def __init__(self, name: str, client: Any) -> None:
        self.client = client
        self._jobs: queue.SimpleQueue[
            tuple[concurrent.futures.Future[Any], Callable[[Any], Awaitable[Any]]] | None
        ] = queue.SimpleQueue()
        # Daemon: a statement stuck until its timeout must not hold the process at exit.
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call(self, job: Callable[[Any], Awaitable[T]]) -> asyncio.Future[T]:
        """Run ``job(client)`` on the worker; await the result on the caller's loop."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._jobs.put((future, job))
        return asyncio.wrap_future(future)

    def stop(self) -> None:
        """Finish the current job, then end the thread."""
        self._jobs.put(None)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            while (item := self._jobs.get()) is not None:
                future, job = item
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    result = loop.run_until_complete(job(self.client))
                except BaseException as exc:  # handed to the waiting coroutine, never lost
                    future.set_exception(exc)
                else:
                    future.set_result(result)
        finally:
            loop.close()
            try:
                self.client.connection.statement_handler.api.api_client.rest_client.pool_manager.clear()
            except Exception:  # closing idle sockets is best effort at shutdown
                log.debug("could not close the DeltaStream connection pool", exc_info=True)


class StepFailed(Exception):
    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.message)
        self.fault = fault


class SetupClient:
    """One client on one worker, for setup and commands: each call retried on a 5xx."""

    def __init__(self, settings: Settings, options: DeltaStreamOptions, name: str) -> None:
        self.settings = settings
        self.options = options
        self.url = server_url(settings)
        self.store = settings.store_name
        self._secret = settings.deltastream_token
        self.worker = Worker(name, make_client(settings, options, use_database=False))

    def close(self) -> None:
        self.worker.stop()

    async def call(self, job: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``job(client)``; retries what a 5xx answer made fail, raises :class:`StepFailed`."""
        timeout = self.options.statement_timeout

        async def bounded(client: Any) -> T:
            return await asyncio.wait_for(job(client), timeout)

        attempt = 0
        while True:
            attempt += 1
            try:
                return await self.worker.call(bounded)
            except Exception as exc:
                fault = classify(exc, self._secret)
                # Network failures at setup are reported at once: a wrong URL or a
                # host that is down should say so, not leave the user waiting.
                if fault.transient and fault.network is None and attempt < SETUP_ATTEMPTS:
                    await asyncio.sleep(min(self.options.retry_max, RETRY_INITIAL * 2.0**attempt))
                    continue
                raise StepFailed(fault) from None

    def error(self, fault: Fault, step: str) -> SinkError:
        """The one-line error that stops the sink, naming what to check."""
        url, s = self.url, self.settings
        host = urlsplit(url).hostname
        if fault.kind is FaultKind.AUTH:
            text = (
                f"DeltaStream at {url} refused the token for organization {s.deltastream_org_id} "
                f"({fault.message}); check DELTASTREAM_TOKEN and DELTASTREAM_ORG_ID"
            )
        elif fault.network is Network.UNKNOWN_HOST:
            text = (
                f"DeltaStream server {host!r} is unknown (the name does not resolve); "
                "check DELTASTREAM_SERVER_URL"
            )
        elif fault.network is Network.REFUSED:
            text = (
                f"cannot reach DeltaStream at {url}: connection refused; "
                "check DELTASTREAM_SERVER_URL and the network"
            )
        elif fault.network is Network.TIMEOUT:
            text = (
                f"DeltaStream at {url} did not answer within "
                f"{self.options.statement_timeout:g}s; check DELTASTREAM_SERVER_URL and the network"
            )
        elif fault.network is not None:
            text = f"cannot talk to DeltaStream at {url}: {fault.message}"
        elif step == "version" and fault.status == 404:
            text = (
                f"{url} is not a DeltaStream API (HTTP 404 for /version); "
                "check DELTASTREAM_SERVER_URL"
            )
        elif fault.transient:
            text = f"DeltaStream at {url} is unavailable ({fault.message}); try again later"
        elif fault.sql_state == MISSING_DATABASE or step == "database":
            text = (
                f"DeltaStream database {s.deltastream_database_name!r} cannot be used "
                f"({fault.message}); check DELTASTREAM_DATABASE_NAME"
            )
        elif fault.sql_state == MISSING_STORE or step == "store":
            text = (
                f"DeltaStream store {self.store!r} cannot be used ({fault.message}); "
                "check STORE_NAME"
            )
        else:
            text = f"DeltaStream {step} failed: {fault.message}"
        return SinkError(scrub(one_line(text, 400), self._secret))

    async def connect(self) -> None:
        """Check the server and the token, then ``USE DATABASE`` if one is set."""
        try:
            await self.call(lambda c: c.connection.version())
        except StepFailed as failed:
            raise self.error(failed.fault, "version") from None
        database = self.settings.deltastream_database_name
        if database:
            try:
                await self.call(lambda c: c.use_database(database))
            except StepFailed as failed:
                raise self.error(failed.fault, "database") from None

    async def entity_names(self) -> set[str]:
        """Names of the entities in the store (one ``LIST ENTITIES ... IN STORE``)."""
        try:
            entities = await self.call(lambda c: c.entities.list_entities(store=self.store))
        except StepFailed as failed:
            raise self.error(failed.fault, "store") from None
        return {e.name for e in entities}

    async def ensure_entities(self) -> list[EntityStatus]:
        """List the store's entities once; create the missing ones. One status per topic."""
        existing = await self.entity_names()
        statuses = []
        for topic in TOPICS:
            if topic in existing:
                statuses.append(EntityStatus(topic, EntityState.EXISTS, f"store {self.store}"))
                continue
            sql = create_entity_sql(topic, self.store, self.options)
            try:
                # The statement itself, not entities.create(): that follows up with a
                # DESCRIBE without the store, which fails for a non-default store
                # although the entity was made.
                await self.call(execute(sql))
            except StepFailed as failed:
                fault = failed.fault
                if "already exists" in fault.message.lower():
                    # Someone created it between our LIST and CREATE: it exists.
                    statuses.append(EntityStatus(topic, EntityState.EXISTS, "created concurrently"))
                elif fault.kind is FaultKind.AUTH or fault.network is not None:
                    raise self.error(fault, f"create entity {topic}") from None
                else:
                    statuses.append(EntityStatus(topic, EntityState.FAILED, fault.message))
                continue
            o = self.options
            statuses.append(
                EntityStatus(
                    topic,
                    EntityState.CREATED,
                    f"store {self.store}, {_count(o.partitions, 'partition')}, "
                    f"{_count(o.replicas, 'replica')}",
                )
            )
        return statuses


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
