"""What went wrong with a DeltaStream call, and whether trying again can help.

The SDK (deltastream-sdk 0.2.1) wraps every failure in its own
``ConnectionError`` / ``SQLError`` / ``DeltaStreamSDKError`` with a message
that flattens the cause. The real cause is further down the exception chain
(``__cause__``, and ``__context__`` where the connector re-raised inside an
``except``):

- the connector's ``SQLError`` (with a ``.code`` SQL state) for a statement
  the service rejected;
- ``AuthenticationError`` for HTTP 401/403, ``ServiceUnavailableError`` for
  503, ``ServerError`` for 500, ``TimeoutError`` for 408, ``InterfaceError``
  for 400/404 and any other status (the ``ApiException`` it came from, with
  the status, is its ``__context__``);
- urllib3's ``MaxRetryError`` (refused connection, unknown host, connect
  timeout), ``ProtocolError`` (connection dropped) or ``ReadTimeoutError``
  (our per-statement timeout).

:func:`classify` walks that chain and answers with a :class:`Fault`: transient
(retry with backoff), authorization (stop, report once) or permanent (this
statement can never succeed). Messages are one line, and :func:`scrub` keeps
a secret out of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

import deltastream.api.error as ds  # type: ignore[import-untyped]
import urllib3.exceptions as u3
from deltastream.api.controlplane.openapi_client.exceptions import ApiException

from ..config import Secret

MAX_MESSAGE = 240
"""Longest message kept from a server; a proxy's HTML page is not an error line."""


class FaultKind(StrEnum):
    """What to do about a failed call."""

    TRANSIENT = "transient"
    """The service or the network may recover: keep the records, retry later."""
    AUTH = "auth"
    """The token was refused: retrying cannot help and must not hammer the service."""
    PERMANENT = "permanent"
    """This statement will fail every time (bad SQL, missing entity, ...)."""


class Network(StrEnum):
    """How a call failed below HTTP, when it did."""

    REFUSED = "connection refused"
    UNKNOWN_HOST = "unknown host"
    TIMEOUT = "timed out"
    DROPPED = "connection dropped"
    TLS = "TLS error"


@dataclass(frozen=True)
class Fault:
    """A classified failure."""

    kind: FaultKind
    message: str
    """One line for people: what failed, without secrets."""
    status: int | None = None
    """HTTP status, when the service answered."""
    sql_state: str | None = None
    """SQL state, when the service ran the statement and rejected it."""
    network: Network | None = None
    """Failure below HTTP, when there was one."""

    @property
    def transient(self) -> bool:
        return self.kind is FaultKind.TRANSIENT


TRANSIENT_SQL_STATES = frozenset(
    {
        "57000",  # cancelled
        "57014",  # timeout
        "57015",  # remote unavailable
        "53000",  # configuration limit exceeded (rate limits clear with time)
        "3E001",  # store not ready
        "3E002",  # schema registry not ready
        "3E003",  # relation not ready
        "3E004",  # compute pool not ready
        "XX000",  # internal error
    }
)
AUTH_SQL_STATES = frozenset({"3D012"})  # invalid API token
MISSING_DATABASE = "3D002"
MISSING_STORE = "3D006"
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def one_line(text: object, limit: int = MAX_MESSAGE) -> str:
    """``text`` on a single line, at most ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def scrub(text: str, secret: Secret | None) -> str:
    """``text`` with every occurrence of ``secret`` masked."""
    value = secret.reveal() if secret is not None else ""
    if value and value in text:
        return text.replace(value, "********")
    return text


def chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it was raised from or while handling, once each."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for nxt in (current.__cause__, current.__context__):
            if nxt is not None:
                todo.append(nxt)
        if isinstance(current, u3.MaxRetryError) and current.reason is not None:
            todo.append(current.reason)
        if isinstance(current, u3.ProtocolError) and current.args[1:]:
            inner = current.args[1]
            if isinstance(inner, BaseException):
                todo.append(inner)


def _status(exc: BaseException) -> int | None:
    for e in chain(exc):
        if isinstance(e, ApiException) and e.status:
            return int(e.status)
    return None


def _network(exc: BaseException) -> Network | None:
    for e in chain(exc):
        if isinstance(e, u3.NameResolutionError):
            return Network.UNKNOWN_HOST
        if isinstance(e, u3.SSLError):
            return Network.TLS
        # NewConnectionError subclasses ConnectTimeoutError: ask for it first.
        if isinstance(e, u3.NewConnectionError):
            return Network.REFUSED
        if isinstance(e, u3.ConnectTimeoutError | u3.ReadTimeoutError):
            return Network.TIMEOUT
        if isinstance(e, u3.ProtocolError):
            return Network.DROPPED
    for e in chain(exc):
        # Below urllib3 (or from our own asyncio timeout around a statement).
        if isinstance(e, TimeoutError | asyncio.TimeoutError):
            return Network.TIMEOUT
        if isinstance(e, ConnectionRefusedError):
            return Network.REFUSED
        if isinstance(e, ConnectionError):
            return Network.DROPPED
    return None


def classify(exc: BaseException, secret: Secret | None = None) -> Fault:
    """Decide whether a failed SDK call is worth retrying.

    Args:
        exc: what the SDK raised (its wrapper; the cause is found in the chain).
        secret: a value that must not appear in the message (the API token).
    """
    causes = list(chain(exc))

    def fault(kind: FaultKind, message: str, **kw: object) -> Fault:
        return Fault(kind, scrub(one_line(message), secret), **kw)  # type: ignore[arg-type]

    for e in causes:
        if isinstance(e, ds.AuthenticationError):
            auth_status = _status(exc) or 403
            return fault(FaultKind.AUTH, f"HTTP {auth_status}: {e}", status=auth_status)
    for e in causes:
        if isinstance(e, ds.SQLError):
            state = getattr(e.code, "value", str(e.code))
            if state in AUTH_SQL_STATES:
                return fault(FaultKind.AUTH, f"SQL state {state}: {e}", sql_state=state)
            kind = FaultKind.TRANSIENT if state in TRANSIENT_SQL_STATES else FaultKind.PERMANENT
            return fault(kind, f"{e} (SQL state {state})", sql_state=state)
    status = _status(exc)
    for e in causes:
        if isinstance(e, ds.ServiceUnavailableError | ds.ServerError | ds.TimeoutError):
            code = status or {ds.ServiceUnavailableError: 503, ds.ServerError: 500}.get(
                type(e), 408
            )
            return fault(FaultKind.TRANSIENT, f"HTTP {code}: {e}", status=code)
        if isinstance(e, ds.InterfaceError):
            code = status or 400
            kind = FaultKind.TRANSIENT if code in TRANSIENT_STATUSES else FaultKind.PERMANENT
            return fault(kind, f"HTTP {code}: {e}", status=code)
    network = _network(exc)
    if network is Network.TLS:
        return fault(FaultKind.PERMANENT, network.value, network=network)
    if network is not None:
        return fault(FaultKind.TRANSIENT, network.value, network=network)
    if status is not None:
        kind = FaultKind.TRANSIENT if status in TRANSIENT_STATUSES else FaultKind.PERMANENT
        return fault(kind, f"HTTP {status}", status=status)
    # Anything else (a malformed answer, a bug) would fail again the same way.
    root = causes[-1] if len(causes) > 1 else exc
    return fault(FaultKind.PERMANENT, f"{type(root).__name__}: {root}")
