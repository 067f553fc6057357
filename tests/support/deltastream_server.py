"""A loopback DeltaStream statement API: the test double of a hosted service.

DeltaStream runs only as a hosted service, so tests and benchmarks cannot talk
to the real one. This module is a real HTTP server on 127.0.0.1 that the real
``deltastream-sdk`` client reaches through its real urllib3 transport. It
implements what the SDK uses of the statement API described by the OpenAPI
spec shipped inside ``deltastream-connector``
(``deltastream/api/controlplane/api-server-v2.yaml``):

- ``POST /statements`` as ``multipart/form-data`` (what the SDK sends) and as
  ``application/json``; answers ``200 ResultSet``, or ``202 StatementStatus``
  when asynchronous statements are switched on;
- ``GET /statements/{statementID}`` for the result of an earlier statement;
- ``GET /version``;
- a bearer-token check on every call (``403 ErrorResponse`` otherwise).

Behind it sits just enough of DeltaStream for the generator: databases, stores
with their entities (``LIST``/``CREATE``/``DESCRIBE``/``DROP ENTITY``), streams
(``LIST STREAMS``, ``CREATE``/``DROP STREAM``) and ``INSERT INTO ENTITY ...
VALUE('...')``, whose JSON literal is parsed back into the record it carried.
SQL errors come back the way the API reports them: ``200`` with a non-zero
``sqlState``.

Continuous queries: a ``SELECT`` is answered the way DeltaStream answers an
interactive query, with a data-plane request of type ``streaming`` whose URI
is a WebSocket on 127.0.0.1 (``ws://``, served by the ``websockets`` package);
there the connector's ``StreamingRows`` authenticates with the request's
token, receives the columns (``metadata``) and then one ``data`` message per
row. Tests choose the columns (:attr:`LoopbackDeltaStream.query_columns`),
push rows with :meth:`LoopbackDeltaStream.push_row` (every open and later
query gets them, in order) and can end the streams with
:meth:`LoopbackDeltaStream.end_queries`. A ``SELECT`` whose text contains
``no_such_stream`` fails the way an unknown relation does.

Faults can be injected while it runs: a latency per statement, ``503`` at a
given rate, a down period (the listening socket is closed, so clients get
"connection refused"), requests that hang, connections dropped without an
answer, and ``403`` for every call. Tests wait on its state with
:meth:`LoopbackDeltaStream.wait_until`, never with sleeps.

It can also run on its own (``python tests/support/deltastream_server.py``) so
that a benchmark keeps it in a separate process.
"""

from __future__ import annotations

import argparse
import asyncio
import email.parser
import email.policy
import hmac
import json
import random
import re
import socket
import sys
import threading
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

API_PATH = "/v2"
"""Path prefix of the API, as in the SDK's production URL."""

DEFAULT_TOKEN = "loopback-token-7f3e9c1a5b"
DEFAULT_ORG = "0b6c8f0e-3f1d-4a7e-9c2b-5d4e3f2a1b0c"

_IDENT = r'"(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_.\-]*'
_STRING = r"'(?:[^']|'')*'"
_IN_STORE = rf"(?:\s+IN\s+STORE\s+(?P<store>{_IDENT}))?"
_WITH = r"(?:\s+WITH\s*\((?P<with>.*)\))?"

_STATEMENTS: list[tuple[str, re.Pattern[str]]] = [
    ("use_database", re.compile(rf"USE\s+DATABASE\s+(?P<name>{_IDENT})", re.I | re.S)),
    (
        "list_entities",
        re.compile(
            rf"LIST\s+ENTITIES(?:\s+IN\s+(?!STORE\b)(?P<path>{_IDENT}))?"
            rf"{_IN_STORE}",
            re.I | re.S,
        ),
    ),
    (
        "create_entity",
        re.compile(rf"CREATE\s+ENTITY\s+(?P<name>{_IDENT}){_IN_STORE}{_WITH}", re.I | re.S),
    ),
    (
        "describe_entity",
        re.compile(rf"DESCRIBE\s+ENTITY\s+(?P<name>{_IDENT}){_IN_STORE}", re.I | re.S),
    ),
    ("drop_entity", re.compile(rf"DROP\s+ENTITY\s+(?P<name>{_IDENT}){_IN_STORE}", re.I | re.S)),
    (
        "insert",
        re.compile(
            rf"INSERT\s+INTO\s+ENTITY\s+(?P<name>{_IDENT}){_IN_STORE}"
            rf"\s+VALUE\s*\(\s*(?P<value>{_STRING})\s*\){_WITH}",
            re.I | re.S,
        ),
    ),
    (
        "create_stream",
        re.compile(
            rf"CREATE\s+STREAM\s+(?P<name>{_IDENT})\s*\((?P<columns>.*?)\)"
            rf"{_WITH}",
            re.I | re.S,
        ),
    ),
    ("list_streams", re.compile(r"LIST\s+(?:STREAMS|RELATIONS)", re.I)),
    ("select", re.compile(r"SELECT\s.+", re.I | re.S)),
    ("drop_stream", re.compile(rf"DROP\s+(?:STREAM|RELATION)\s+(?P<name>{_IDENT})", re.I | re.S)),
]


def _ident(text: str) -> str:
    if text.startswith('"'):
        return text[1:-1].replace('""', '"')
    return text


def _string(text: str) -> str:
    return text[1:-1].replace("''", "'")


def _with_params(text: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if not text:
        return params
    for m in re.finditer(rf"({_STRING})\s*=\s*({_STRING}|[^,\s]+)", text):
        key, raw = _string(m.group(1)), m.group(2)
        params[key] = _string(raw) if raw.startswith("'") else _number_or_word(raw)
    return params


def _number_or_word(raw: str) -> Any:
    try:
        return int(raw)
    except ValueError:
        try:
            return float(raw)
        except ValueError:
            return raw


class SqlFailure(Exception):
    """A statement that DeltaStream answers with an error ``sqlState``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Entity:
    """A Kafka topic as DeltaStream shows it, with the records inserted into it."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)
    """Every inserted value, parsed back from its JSON literal, in arrival order."""
    raw: list[str] = field(default_factory=list)
    """The JSON literals exactly as they arrived."""


@dataclass
class Faults:
    """What goes wrong, and how often; changed by tests while the server runs."""

    latency: float = 0.0
    """Seconds each statement takes before it is executed and answered."""
    unavailable_rate: float = 0.0
    """Share of statements answered 503 (not executed)."""
    forbid: bool = False
    """Answer every call 403, as for a revoked token."""
    hang: int = 0
    """Number of coming statements that never get an answer (until released)."""
    drop: int = 0
    """Number of coming statements whose connection is closed without an answer."""
    async_statements: bool = False
    """Answer POST /statements with 202 and the result on GET /statements/{id}."""
    statuses: list[int] = field(default_factory=list)
    """HTTP statuses to answer the coming statements with, one each, before executing any."""


@dataclass
class Counters:
    """What the server saw; read by tests and benchmarks."""

    requests: int = 0
    statements: int = 0
    executed: int = 0
    inserts: int = 0
    unavailable: int = 0
    forbidden: int = 0
    hung: int = 0
    dropped: int = 0
    status_polls: int = 0


class LoopbackDeltaStream:
    """The loopback server and the state behind it.

    Args:
        token: the bearer token it accepts.
        organization_id: the organization it reports in result contexts.
        databases: databases that exist (``USE DATABASE`` of any other fails).
        stores: stores that exist; the first is the default store.
        seed: seed of the generator deciding which statements get a 503.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        organization_id: str = DEFAULT_ORG,
        databases: tuple[str, ...] = ("defi_db",),
        stores: tuple[str, ...] = ("kafka_store",),
        seed: int = 7,
    ) -> None:
        self.token = token
        self.organization_id = organization_id
        self.databases = set(databases)
        self.default_store = stores[0]
        self.stores: dict[str, dict[str, Entity]] = {s: {} for s in stores}
        self.streams: dict[str, dict[str, Any]] = {}
        self.faults = Faults()
        self.on_statement: Callable[[str], None] | None = None
        """Called with each statement's text before it runs; may raise :class:`SqlFailure`."""
        self.counters = Counters()
        self.statement_log: deque[str] = deque(maxlen=10_000)
        """The text of recent statements, in arrival order (inserts included)."""
        self._rng = random.Random(seed)
        self._cond = threading.Condition()
        self._release = threading.Event()
        self._results: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port = 0
        self._down = False
        self._down_timer: threading.Timer | None = None
        self._connections: set[socket.socket] = set()
        self.query_columns: list[tuple[str, str]] = [("detection", "VARCHAR")]
        """Columns of every continuous query's result (name, DeltaStream type)."""
        self.queries: list[str] = []
        """The text of every continuous query submitted, in order."""
        self._query_tokens: dict[str, str] = {}
        self._rows: list[list[Any] | None] = []
        """Rows pushed so far; None ends every stream that reaches it."""
        self._ws: Any = None
        self._ws_thread: threading.Thread | None = None
        self.streams_open = 0
        """WebSocket result streams currently being served."""

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> LoopbackDeltaStream:
        """Listen on 127.0.0.1 (a free port the first time, the same port after an outage)."""
        httpd = ThreadingHTTPServer(("127.0.0.1", self._port), _handler_for(self))
        httpd.daemon_threads = True
        self._port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"loopback-deltastream:{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening, release hung requests and close every connection."""
        self.end_queries()
        if self._ws is not None:
            self._ws.shutdown()
            self._ws = None
        if self._down_timer is not None:
            self._down_timer.cancel()
        self._release.set()
        self._close_listener()
        self._close_connections()

    def __enter__(self) -> LoopbackDeltaStream:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The API base URL to give the SDK (``DELTASTREAM_SERVER_URL``)."""
        return f"http://127.0.0.1:{self._port}{API_PATH}"

    @property
    def port(self) -> int:
        return self._port

    # --- continuous queries ----------------------------------------------------------------

    def push_row(self, *values: Any) -> None:
        """Send one result row (values in column order) to every query stream."""
        with self._cond:
            self._rows.append([None if v is None else str(v) for v in values])
            self._cond.notify_all()

    def end_queries(self) -> None:
        """End every query stream after the rows pushed so far."""
        with self._cond:
            self._rows.append(None)
            self._cond.notify_all()

    def _ws_url(self) -> str:
        if self._ws is None:
            from websockets.sync.server import serve

            self._ws = serve(self._serve_stream, "127.0.0.1", 0, compression=None)
            self._ws_thread = threading.Thread(
                target=self._ws.serve_forever, name="loopback-deltastream-ws", daemon=True
            )
            self._ws_thread.start()
        port = self._ws.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}{API_PATH}"

    def _serve_stream(self, ws: Any) -> None:
        """One result stream: auth, the columns, then every row as it is pushed."""
        statement_id = ws.request.path.rsplit("/", 1)[-1]
        auth = json.loads(ws.recv(timeout=10))
        with self._cond:
            expected = self._query_tokens.get(statement_id)
        if auth.get("type") != "auth" or expected is None or auth.get("accessToken") != expected:
            ws.send(
                json.dumps(
                    {"type": "error", "headers": {}, "message": "unauthorized", "sql_code": "28000"}
                )
            )
            ws.close()
            return
        columns = [{"name": n, "type": t, "nullable": True} for n, t in self.query_columns]
        # Where this stream starts is fixed before the client can know it is
        # reading: an end pushed right after the metadata must still reach it.
        with self._cond:
            self.streams_open += 1
            # Rows since the last end of the streams: what a query started now sees.
            ends = [i for i, row in enumerate(self._rows) if row is None]
            at = ends[-1] + 1 if ends else 0
            self._cond.notify_all()
        ws.send(json.dumps({"type": "metadata", "headers": {}, "columns": columns}))
        try:
            while True:
                with self._cond:
                    seen = at
                    self._cond.wait_for(lambda seen=seen: len(self._rows) > seen, timeout=1.0)
                    fresh = self._rows[at:]
                if not fresh:
                    continue
                for row in fresh:
                    at += 1
                    if row is None:
                        ws.close()
                        return
                    ws.send(json.dumps({"type": "data", "headers": {}, "data": row}))
        except Exception:  # the client went away: the stream ends with it
            return
        finally:
            with self._cond:
                self.streams_open -= 1
                self._cond.notify_all()

    # --- fault control ---------------------------------------------------------------------

    def go_down(self) -> None:
        """Stop listening: new connections are refused.

        Like a server going away gracefully: a statement already running is
        answered (then its connection closes), a statement arriving on a
        connection opened before is dropped without being run. So an outage
        never runs a statement whose answer is lost, and a client that
        retries cannot duplicate anything because of it.
        """
        with self._cond:
            self._down = True
            self._cond.notify_all()
        self._close_listener()

    def come_up(self) -> None:
        """Listen again on the same port."""
        with self._cond:
            if not self._down:
                return
            self._down = False
        self.start()
        with self._cond:
            self._cond.notify_all()

    def outage(self, seconds: float) -> None:
        """Go down now and come back up by itself after ``seconds`` (a timed outage)."""
        self.go_down()
        self._down_timer = threading.Timer(seconds, self.come_up)
        self._down_timer.daemon = True
        self._down_timer.start()

    @property
    def down(self) -> bool:
        with self._cond:
            return self._down

    def release_hung(self) -> None:
        """Let every hanging request end (its connection is closed without an answer)."""
        self._release.set()

    def set_faults(self, **changes: Any) -> None:
        """Change :class:`Faults` fields atomically, e.g. ``set_faults(latency=0.5)``."""
        with self._cond:
            for name, value in changes.items():
                if not hasattr(self.faults, name):
                    raise AttributeError(f"no fault named {name!r}")
                setattr(self.faults, name, value)
            if changes.get("hang"):
                self._release.clear()

    # --- observation -----------------------------------------------------------------------

    def entity(self, name: str, store: str | None = None) -> Entity | None:
        with self._cond:
            return self.stores.get(store or self.default_store, {}).get(name)

    def records(self, name: str, store: str | None = None) -> list[dict[str, Any]]:
        """Copies of the records inserted into an entity, in arrival order."""
        with self._cond:
            ent = self.stores.get(store or self.default_store, {}).get(name)
            return list(ent.records) if ent else []

    def add_entity(self, name: str, store: str | None = None, **params: Any) -> None:
        """Make an entity exist, as if created earlier."""
        with self._cond:
            self.stores[store or self.default_store][name] = Entity(name, dict(params))

    def wait_until(
        self, predicate: Callable[[LoopbackDeltaStream], bool], timeout: float = 10.0
    ) -> bool:
        """Block until ``predicate(self)`` holds (checked after every change) or time runs out."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)

    async def wait_for(
        self, predicate: Callable[[LoopbackDeltaStream], bool], timeout: float = 10.0
    ) -> bool:
        """:meth:`wait_until` for async tests, without blocking their event loop."""
        return await asyncio.to_thread(self.wait_until, predicate, timeout)

    def count(self, kind: str) -> int:
        with self._cond:
            return int(getattr(self.counters, kind))

    def statements_like(self, pattern: str) -> list[str]:
        """Logged statements matching a regular expression (case-insensitive)."""
        rx = re.compile(pattern, re.I | re.S)
        with self._cond:
            return [s for s in self.statement_log if rx.search(s)]

    # --- request handling (called on the server's threads) ---------------------------------

    def _close_listener(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    def _close_connections(self) -> None:
        with self._cond:
            conns = list(self._connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _track(self, conn: socket.socket, alive: bool) -> None:
        with self._cond:
            if alive:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _authorized(self, header: str | None) -> bool:
        with self._cond:
            forbid = self.faults.forbid
        expected = f"Bearer {self.token}"
        return (
            not forbid
            and header is not None
            and hmac.compare_digest(header.encode(), expected.encode())
        )

    def _next_fault(self) -> str | None:
        """Decide, under the lock, what happens to the statement that just arrived."""
        with self._cond:
            self.counters.statements += 1
            f = self.faults
            if f.hang > 0:
                f.hang -= 1
                self.counters.hung += 1
                self._cond.notify_all()
                return "hang"
            if self._down:
                # A request on a connection opened before the outage: gone, never run.
                return "drop"
            if f.statuses:
                self.counters.unavailable += 1
                self._cond.notify_all()
                return f"status:{f.statuses.pop(0)}"
            if f.drop > 0:
                f.drop -= 1
                self.counters.dropped += 1
                self._cond.notify_all()
                return "drop"
            if f.unavailable_rate and self._rng.random() < f.unavailable_rate:
                self.counters.unavailable += 1
                self._cond.notify_all()
                return "unavailable"
            return None

    def execute(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one statement request; returns the ``ResultSet`` to send."""
        statement = str(request.get("statement") or "").strip().rstrip(";").strip()
        statement_id = str(uuid.uuid4())
        hook_failure: SqlFailure | None = None
        if self.on_statement is not None:
            try:
                self.on_statement(statement)
            except SqlFailure as failure:
                hook_failure = failure
        with self._cond:
            self.statement_log.append(statement)
            try:
                if hook_failure is not None:
                    raise hook_failure
                database = request.get("database")
                if database and database not in self.databases:
                    raise SqlFailure("3D002", f'database "{database}" does not exist')
                columns, rows, context = self._run(statement, request)
                result = _result_set(statement_id, "00000", "", columns, rows, context)
                self.counters.executed += 1
            except SqlFailure as failure:
                result = _result_set(statement_id, failure.code, failure.message, [], None, None)
            self._results[statement_id] = result
            while len(self._results) > 10_000:
                self._results.popitem(last=False)
            self._cond.notify_all()
        return result

    def result(self, statement_id: str) -> dict[str, Any] | None:
        with self._cond:
            self.counters.status_polls += 1
            return self._results.get(statement_id)

    def _store(self, name: str | None, request: dict[str, Any]) -> tuple[str, dict[str, Entity]]:
        store = _ident(name) if name else (request.get("store") or self.default_store)
        if store not in self.stores:
            raise SqlFailure("3D006", f'store "{store}" does not exist')
        return store, self.stores[store]

    def _run(
        self, statement: str, request: dict[str, Any]
    ) -> tuple[list[tuple[str, str]], list[list[str]] | None, dict[str, Any] | None]:
        for kind, pattern in _STATEMENTS:
            m = pattern.fullmatch(statement)
            if m:
                return getattr(self, f"_do_{kind}")(m, request)  # type: ignore[no-any-return]
        raise SqlFailure("42601", f"syntax error in statement: {statement[:80]}")

    def _context(self, request: dict[str, Any], **overrides: str) -> dict[str, Any]:
        ctx = {"organizationID": self.organization_id}
        if request.get("database"):
            ctx["databaseName"] = request["database"]
        ctx.update(overrides)
        return ctx

    def _do_use_database(self, m: re.Match[str], request: dict[str, Any]) -> Any:
        name = _ident(m["name"])
        if name not in self.databases:
            raise SqlFailure("3D002", f'database "{name}" does not exist')
        return [], None, self._context(request, databaseName=name)

    def _do_list_entities(self, m: re.Match[str], request: dict[str, Any]) -> Any:
        _, entities = self._store(m["store"], request)
        rows = [[name, "true"] for name in entities]
        return [("Name", "VARCHAR"), ("IsLeaf", "BOOLEAN")], rows, None

    def _do_create_entity(self, m: re.Match[str], request: dict[str, Any]) -> Any:
        store, entities = self._store(m["store"], request)
        name = _ident(m["name"])
        if name in entities:
            raise SqlFailure("42710", f'entity "{name}" already exists in store "{store}"')
        entities[name] = Entity(name, _with_params(m["with"]))
        return [], None, None

    def _do_describe_entity(self, m: re.Match[str], request: dict[str, Any]) -> Any:
        store, entities = self._store(m["store"], request)
        name = _ident(m["name"])
        if name not in entities:
            raise SqlFailure("3D007", f'entity "{name}" does not exist in store "{store}"')
        rows = [["Name", name], ["Store", store]]
        rows += [[k, str(v)] for k, v in entities[name].params.items()]
        return [("property", "VARCHAR"), ("value", "VARCHAR")], rows, None

    def _do_drop_entity(self, m: re.Match[str], request: dict[str, Any]) -> Any:
        store, entities = self._store(m["store"], request)
        name = _ident(m["name"])
        if entities.pop(name, None) is None:
            raise SqlFailure("3D007", f'entity "{name}" does not exist in store "{store}"')
        return [], None, None

    def _do_insert(self, m: re.Match[str], request: dict[str, Any]) -> Any:
        store, entities = self._store(m["store"], request)
        name = _ident(m["name"])
        if name not in entities:
            raise SqlFailure("3D007", f'entity "{name}" does not exist in store "{store}"')
        literal = _string(m["value"])
        try:
            value = json.loads(literal)
        except ValueError as exc:
            raise SqlFailure("42601", f"value is not valid JSON: {exc}") from None
        entities[name].records.append(value)
        entities[name].raw.append(literal)
        self.counters.inserts += 1
        return [], None, None

    def _do_create_stream(self, m: re.Match[str], request: dict[str, Any]) -> Any:
        name = _ident(m["name"])
        if name in self.streams:
            raise SqlFailure("42P17", f'relation "{name}" already exists')
        params = _with_params(m["with"])
        store, entities = self._store(params.get("store"), request)
        topic = params.get("topic", name)
        if topic not in entities:
            raise SqlFailure("3D007", f'entity "{topic}" does not exist in store "{store}"')
        self.streams[name] = {"columns": m["columns"].strip(), **params}
        return [], None, None

    def _do_select(self, m: re.Match[str], request: dict[str, Any]) -> Any:
        statement = m.group(0)
        if "no_such_stream" in statement:
            raise SqlFailure("42P01", 'relation "no_such_stream" does not exist')
        statement_id = str(uuid.uuid4())
        token = uuid.uuid4().hex
        self._query_tokens[statement_id] = token
        self.queries.append(statement)
        # Called under the lock; starting the WebSocket server does not need it.
        url = self._ws_url()
        return (
            [],
            None,
            {
                "__dataplane__": {
                    "token": token,
                    "uri": f"{url}/statements/{statement_id}",
                    "statementID": statement_id,
                    "requestType": "streaming",
                }
            },
        )

    def _do_list_streams(self, m: re.Match[str], request: dict[str, Any]) -> Any:
        rows = [[name, "Stream"] for name in self.streams]
        return [("Name", "VARCHAR"), ("Type", "VARCHAR")], rows, None

    def _do_drop_stream(self, m: re.Match[str], request: dict[str, Any]) -> Any:
        name = _ident(m["name"])
        if self.streams.pop(name, None) is None:
            raise SqlFailure("3D020", f'relation "{name}" does not exist')
        return [], None, None


def _result_set(
    statement_id: str,
    state: str,
    message: str,
    columns: list[tuple[str, str]],
    rows: list[list[str]] | None,
    context: dict[str, Any] | None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "encoding": "json",
        "partitionInfo": [{"rowCount": len(rows)}] if rows is not None else [],
        "columns": [{"name": n, "type": t, "nullable": False} for n, t in columns],
    }
    if context and "__dataplane__" in context:
        metadata["dataplaneRequest"] = context.pop("__dataplane__")
    if context:
        metadata["context"] = context
    result: dict[str, Any] = {
        "sqlState": state,
        "statementID": statement_id,
        "createdOn": int(time.time()),
        "metadata": metadata,
    }
    if message:
        result["message"] = message
    if rows is not None:
        result["data"] = rows
    return result


def _parse_statement_request(content_type: str, body: bytes) -> dict[str, Any]:
    """The ``StatementRequest`` of a POST, sent as multipart form or as JSON."""
    if content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        for part in message.iter_parts():
            if part.get_param("name", header="content-disposition") == "request":
                payload = part.get_payload(decode=True)
                parsed = json.loads(payload)
                if isinstance(parsed, dict):
                    return parsed
        raise ValueError("multipart body has no 'request' part")
    parsed = json.loads(body)
    if not isinstance(parsed, dict):
        raise ValueError("body is not a JSON object")
    return parsed


def _handler_for(server: LoopbackDeltaStream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            server._track(self.connection, True)

        def finish(self) -> None:
            try:
                super().finish()
            finally:
                server._track(self.connection, False)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # a test server that chatters on stderr hides the test's own output

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            head = (
                f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            # One write: headers and body in separate segments would meet Nagle's
            # algorithm and the client's delayed ACK, adding 40 ms to every call.
            self.wfile.write(head + body)
            self.wfile.flush()
            if server.down:
                self.close_connection = True

        def _error(self, status: int, message: str) -> None:
            self._send(status, {"message": message, "traceID": uuid.uuid4().hex})

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _route(self) -> tuple[str, str] | None:
            path = urlsplit(self.path).path
            if not path.startswith(API_PATH + "/"):
                return None
            return self.command, path[len(API_PATH) :]

        def _admitted(self) -> bool:
            with server._cond:
                server.counters.requests += 1
            if server._authorized(self.headers.get("Authorization")):
                return True
            with server._cond:
                server.counters.forbidden += 1
                server._cond.notify_all()
            self._error(403, "invalid or expired API token")
            return False

        def _drop(self) -> None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

        def do_GET(self) -> None:
            route = self._route()
            if route is None:
                self._error(404, f"no such endpoint: {self.path}")
                return
            if not self._admitted():
                return
            _, path = route
            if path == "/version":
                self._send(200, {"major": 2, "minor": 0, "patch": 0})
                return
            m = re.fullmatch(r"/statements/([0-9a-fA-F-]{36})", path)
            if m:
                result = server.result(m.group(1))
                if result is None:
                    self._error(404, f"statement {m.group(1)} not found")
                else:
                    self._send(200, result)
                return
            self._error(404, f"no such endpoint: {path}")

        def do_POST(self) -> None:
            route = self._route()
            body = self._body()
            if route is None or route[1] != "/statements":
                self._error(404, f"no such endpoint: {self.path}")
                return
            if not self._admitted():
                return
            try:
                request = _parse_statement_request(self.headers.get("Content-Type", ""), body)
            except (ValueError, KeyError) as exc:
                self._error(400, f"malformed statement request: {exc}")
                return
            fault = server._next_fault()
            if fault == "hang":
                server._release.wait()
                self._drop()
                return
            if fault == "drop":
                self._drop()
                return
            with server._cond:
                latency = server.faults.latency
                asynchronous = server.faults.async_statements
            if latency:
                time.sleep(latency)  # the service's processing time, not a test's wait
            if fault == "unavailable":
                self._error(503, "service temporarily unavailable")
                return
            if fault and fault.startswith("status:"):
                status = int(fault.removeprefix("status:"))
                self._error(status, f"injected HTTP {status}")
                return
            result = server.execute(request)
            if asynchronous:
                self._send(
                    202,
                    {
                        "sqlState": "03000",
                        "statementID": result["statementID"],
                        "createdOn": result["createdOn"],
                    },
                )
            else:
                self._send(200, result)

    return Handler


@contextmanager
def running(**kwargs: Any) -> Iterator[LoopbackDeltaStream]:
    """A started server, stopped on exit."""
    server = LoopbackDeltaStream(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> None:
    """Serve until stdin closes; prints ``READY <url>`` once listening.

    A control line on stdin changes faults or reads counters:
    ``latency 0.02``, ``entity NAME``, ``count inserts`` (answers a number).
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args(argv)
    server = LoopbackDeltaStream(token=args.token).start()
    server.set_faults(latency=args.latency)
    print(f"READY {server.url}", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "latency":
            server.set_faults(latency=float(words[1]))
            print("OK", flush=True)
        elif words[0] == "entity":
            server.add_entity(words[1])
            print("OK", flush=True)
        elif words[0] == "count":
            print(server.count(words[1]), flush=True)
        else:
            print(f"ERROR unknown command {words[0]!r}", flush=True)
    server.stop()


if __name__ == "__main__":
    main()
