"""Kafka sink: records straight into a Kafka cluster through confluent-kafka.

Configuration: ``KAFKA_BOOTSTRAP_SERVERS`` plus any librdkafka property, from
``KAFKA_*`` variables or ``--kafka-config FILE`` (see :mod:`defi_tui.config`).
Secret values are masked in every message this module writes.

Setup lists the cluster's topics and creates the missing ones with the admin
client, bounded by ``--kafka-setup-timeout``: a cluster that does not answer
(or whose controller never confirms a creation) gets a clear per-topic status
and the sink goes on producing. Every admin call runs off the event loop.

Producing happens in a process of its own (:mod:`.kafka_producer`): the
sink encodes each batch on the loop (:mod:`.kafka_wire` says how values, keys
and timestamps are chosen) and writes it to that process over a socket, which
produces and sends back delivery reports, counted per topic. A batch waits
while the socket is full, so a producer waiting for room in its queue holds
the generator back instead of losing records; the process drops the overflow
only when the cluster is unreachable or has confirmed nothing for
:data:`STALL_SECONDS`, and says so. The producer's queue
(``queue.buffering.max.messages`` = ``BUFFER_SIZE``) is the bounded buffer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import re
import socket
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata, NewTopic  # type: ignore[attr-defined]

from ..config import Secret, Settings, redact
from ..events import MEMPOOL, PRICES, TOPIC_OF_TYPE, TOPICS, TRANSACTIONS, Record
from . import kafka_wire as wire
from .base import (
    ConnectionState,
    EntityState,
    EntityStatus,
    Sink,
    SinkError,
    SinkStatus,
    StateClock,
)

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 3
DEFAULT_REPLICATION = 1
DEFAULT_SETUP_TIMEOUT = 10.0
STALL_SECONDS = 2.0
"""With the buffer full, how long ``publish`` waits for any delivery before it drops."""
WATCH_INTERVAL = 0.05
"""How often a retrying sink checks whether to ask the cluster again (seconds)."""
START_TIMEOUT = 30.0
"""Longest wait for the producer process to start and accept its configuration (seconds)."""
PROBE_BACKOFF = (0.5, 30.0)
"""First and longest pause between reachability checks while retrying (seconds)."""
PROBE_TIMEOUT = 1.0
"""Longest wait of one reachability check (seconds)."""
CLOSE_WAIT = 2.0
"""How long ``close`` waits for the producer process and the admin client to finish (seconds)."""
SOCKET_BUFFER = 4 << 20
"""Bytes each end of the socket to the producer process may hold (the system may cap it)."""
STDERR_LINES = 20
"""Lines of the producer process's error output kept to explain its exit."""

_TIMEOUTS = frozenset(
    {KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT, KafkaError._TIMED_OUT_QUEUE}
)
_PROPERTY_IN_ERROR = re.compile(r'property:? "([^"]+)"')
_ALIASES = {
    "queue.buffering.max.ms": ("linger.ms",),
    "request.required.acks": ("acks",),
    "message.send.max.retries": ("retries",),
    "message.timeout.ms": ("delivery.timeout.ms",),
    "compression.codec": ("compression.type",),
    "sasl.mechanisms": ("sasl.mechanism",),
    "max.in.flight.requests.per.connection": ("max.in.flight",),
    "bootstrap.servers": ("metadata.broker.list",),
}
"""librdkafka names its canonical property in errors; users often set an alias."""


@dataclass(frozen=True)
class TopicPlan:
    """The topics a run writes to and how missing ones are created."""

    names: Mapping[str, str]
    """Actual topic name by entity (after renames and prefix)."""
    partitions: int = DEFAULT_PARTITIONS
    replication: int = DEFAULT_REPLICATION
    setup_timeout: float = DEFAULT_SETUP_TIMEOUT

    @classmethod
    def from_settings(cls, settings: Settings) -> TopicPlan:
        """Read the Kafka options from ``settings.extra`` (defaults when absent)."""
        extra = settings.extra
        prefix = str(extra.get("topic_prefix") or "")
        own = {
            TRANSACTIONS: extra.get("topic_transactions") or TRANSACTIONS,
            PRICES: extra.get("topic_prices") or PRICES,
            MEMPOOL: extra.get("topic_mempool") or MEMPOOL,
        }
        return cls(
            names={entity: prefix + str(name) for entity, name in own.items()},
            partitions=int(extra.get("topic_partitions") or DEFAULT_PARTITIONS),
            replication=int(extra.get("topic_replication_factor") or DEFAULT_REPLICATION),
            setup_timeout=float(extra.get("kafka_setup_timeout") or DEFAULT_SETUP_TIMEOUT),
        )


# --- configuration


def _reveal(value: str | Secret) -> str:
    return value.reveal() if isinstance(value, Secret) else value


def client_properties(settings: Settings) -> dict[str, str]:
    """librdkafka properties shared by the producer and the admin client (secrets revealed)."""
    props = {name: _reveal(value) for name, value in settings.kafka_properties.items()}
    props.setdefault("client.id", "defi-tui")
    # Brokers close idle connections all the time; that is not worth a log line.
    props.setdefault("log.connection.close", "false")
    if settings.kafka_bootstrap_servers:
        props["bootstrap.servers"] = settings.kafka_bootstrap_servers
    return props


def secret_values(settings: Settings) -> list[str]:
    """Every secret value of the Kafka configuration, to mask in messages."""
    return [v.reveal() for v in settings.kafka_properties.values() if isinstance(v, Secret)]


def describe_config_error(settings: Settings, exc: BaseException | str) -> str:
    """One line for a client configuration the library refused, naming where it came from."""
    text = exc if isinstance(exc, str) else _error_text(exc)
    text = redact(text, secret_values(settings))
    match = _PROPERTY_IN_ERROR.search(text)
    if not match:
        return f"the Kafka client refused its configuration: {text}"
    name = match.group(1)
    sources = settings.kafka_property_sources
    for alias in _ALIASES.get(name, ()):
        if name not in sources and alias in sources:
            name = alias
    source = sources.get(name)
    where = f"{name} (from {source})" if source else name
    hint = "a property librdkafka knows (its CONFIGURATION.md), with a valid value"
    if name == "sasl.jaas.config":
        hint = "sasl.username and sasl.password instead of the Java client's sasl.jaas.config"
    return f"Kafka property {where}: {text}; allowed: {hint}"


def _error_text(err: KafkaError | BaseException) -> str:
    if isinstance(err, KafkaException) and err.args and isinstance(err.args[0], KafkaError):
        err = err.args[0]
    if isinstance(err, KafkaError):
        return str(err.str())
    return str(err)


class KafkaSink(Sink):
    """Publishes records to three Kafka topics with an idempotent producer in its own process.

    Args:
        settings: ``kafka_bootstrap_servers`` and ``kafka_properties`` configure
            the client; ``buffer_size`` bounds its queue; topic options come
            from ``settings.extra`` (see :class:`TopicPlan`).
    """

    kind = "kafka"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.plan = TopicPlan.from_settings(settings)
        self._secrets = secret_values(settings)
        self._state = StateClock()
        self._entities: tuple[EntityStatus, ...] = ()
        self._process: asyncio.subprocess.Process | None = None
        self._socket: socket.socket | None = None
        self._report_stream: asyncio.StreamWriter | None = None
        self._admin: AdminClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._outbox: asyncio.Queue[list[bytes | memoryview]] = asyncio.Queue(maxsize=1)
        self._started: asyncio.Future[tuple[bytes, Any]] | None = None
        self._syncs: dict[int, asyncio.Future[None]] = {}
        self._tokens = itertools.count()
        self._progress = asyncio.Event()
        self._exited = False
        self._closing = False
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self._watch: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[None] | None = None
        self._next_probe = 0.0
        self._probe_delay = PROBE_BACKOFF[0]
        self._outstanding = [0, 0, 0]
        """Records written towards the producer process and not yet settled, by topic index."""
        self._last_transport: str | None = None

    # --- lifecycle

    async def open(self) -> list[EntityStatus]:
        names = list(self.plan.names.values())
        if len(set(names)) != len(names):
            raise SinkError(
                "two entities would share one Kafka topic ("
                + ", ".join(f"{e}→{n}" for e, n in self.plan.names.items())
                + "); allowed: a distinct name per topic"
            )
        common = client_properties(self.settings)
        await self._start_producer(
            {
                **common,
                "enable.idempotence": common.get("enable.idempotence", "true"),
                "queue.buffering.max.messages": self.settings.buffer_size,
            }
        )
        self._watch = asyncio.create_task(self._watch_loop(), name="kafka-watch")
        entities = await self._setup_topics({**common, "logger": log})
        self._entities = tuple(entities)
        self.status_changed()
        return entities

    async def _start_producer(self, conf: dict[str, Any]) -> None:
        """Start the producer process and hand it its configuration (over the socket)."""
        ours, theirs = socket.socketpair()
        for end in (ours, theirs):
            _widen(end)
        try:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "defi_tui.sinks.kafka_producer",
                str(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
            )
        finally:
            theirs.close()
        ours.setblocking(False)
        self._socket = ours
        stderr = self._process.stderr
        assert stderr is not None
        # The reader gets a duplicate: a stream transport owns its socket, and
        # the writer sends on the original with the loop's own sock_sendall.
        # Its writer is kept: a writer closes its transport when it is collected.
        reader, self._report_stream = await asyncio.open_unix_connection(sock=ours.dup())
        loop = asyncio.get_running_loop()
        self._started = loop.create_future()
        self._tasks = [
            asyncio.create_task(self._read_reports(reader), name="kafka-reports"),
            asyncio.create_task(self._write_frames(ours), name="kafka-batches"),
            asyncio.create_task(self._read_stderr(stderr), name="kafka-producer-stderr"),
        ]
        topics = [self.plan.names[entity] for entity in TOPICS]
        config = {"conf": conf, "topics": topics, "stall_seconds": STALL_SECONDS}
        await self._outbox.put(wire.frame(wire.CONFIG, config))
        try:
            kind, body = await asyncio.wait_for(asyncio.shield(self._started), START_TIMEOUT)
        except TimeoutError:
            await self._stop_producer()
            raise SinkError(
                f"the Kafka producer process did not start within {START_TIMEOUT:g}s"
            ) from None
        if kind != wire.READY:
            await self._stop_producer()
            if kind == wire.REFUSED:
                raise SinkError(describe_config_error(self.settings, body))
            raise SinkError(body)

    async def _setup_topics(self, conf: dict[str, Any]) -> list[EntityStatus]:
        plan = self.plan
        deadline = time.monotonic() + plan.setup_timeout
        try:
            self._admin = admin = await asyncio.to_thread(AdminClient, conf)
        except (KafkaException, ValueError, TypeError) as exc:
            raise SinkError(describe_config_error(self.settings, exc)) from None
        try:
            metadata: ClusterMetadata = await asyncio.to_thread(
                admin.list_topics, timeout=max(0.1, deadline - time.monotonic())
            )
        except KafkaException as exc:
            why = self._last_transport or _error_text(exc)
            self._set_state(
                ConnectionState.RETRYING,
                f"no answer from {self.settings.kafka_bootstrap_servers} within "
                f"{plan.setup_timeout:g}s: {why}",
            )
            return [
                EntityStatus(
                    entity,
                    EntityState.FAILED,
                    # Short: the dashboard's sink panel is narrow. Records wait in the buffer.
                    f"{_renamed(entity, name)}cluster did not answer in {plan.setup_timeout:g}s",
                )
                for entity, name in plan.names.items()
            ]
        self._set_state(ConnectionState.CONNECTED)
        statuses: dict[str, EntityStatus] = {}
        missing: list[str] = []
        for entity, name in plan.names.items():
            topic = metadata.topics.get(name)
            if topic is None or (
                topic.error is not None and topic.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
            ):
                missing.append(entity)
            elif topic.error is not None:
                why = self._clean(topic.error.str())
                statuses[entity] = EntityStatus(
                    entity, EntityState.FAILED, f"{_renamed(entity, name)}{why}"
                )
            else:
                size = f"{len(topic.partitions)} partitions"
                statuses[entity] = EntityStatus(
                    entity, EntityState.EXISTS, f"{_renamed(entity, name)}{size}"
                )
        if missing:
            statuses.update(await self._create(admin, missing, deadline))
        return [statuses[entity] for entity in TOPICS]

    async def _create(
        self, admin: AdminClient, entities: list[str], deadline: float
    ) -> dict[str, EntityStatus]:
        plan = self.plan
        remaining = max(0.1, deadline - time.monotonic())
        new = [NewTopic(plan.names[e], plan.partitions, plan.replication) for e in entities]
        futures: dict[str, concurrent.futures.Future[None]] = await asyncio.to_thread(
            admin.create_topics, new, operation_timeout=remaining, request_timeout=remaining
        )
        # Wait in a thread, bounded: a cluster without a usable controller never
        # answers, and producing must not wait on it.
        await asyncio.to_thread(
            concurrent.futures.wait, list(futures.values()), max(0.1, deadline - time.monotonic())
        )
        made = f"{plan.partitions} partitions, replication factor {plan.replication}"
        unconfirmed = f"creation not confirmed within {plan.setup_timeout:g}s"
        auto = "the broker creates it on first produce (auto.create.topics.enable)"
        out: dict[str, EntityStatus] = {}
        for entity in entities:
            name = plan.names[entity]
            future = futures[name]
            if not future.done():
                out[entity] = EntityStatus(
                    entity,
                    EntityState.AUTO_CREATE,
                    f"{_renamed(entity, name)}{unconfirmed}; {auto}",
                )
                continue
            exc = future.exception()
            if exc is None:
                out[entity] = EntityStatus(
                    entity, EntityState.CREATED, f"{_renamed(entity, name)}{made}"
                )
                continue
            err = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
            text = self._clean(_error_text(exc))
            if err is not None and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                # Created meanwhile by someone else: as good as existing.
                out[entity] = EntityStatus(
                    entity, EntityState.EXISTS, _renamed(entity, name).rstrip(": ")
                )
            elif err is not None and err.code() in _TIMEOUTS:
                out[entity] = EntityStatus(
                    entity,
                    EntityState.AUTO_CREATE,
                    f"{_renamed(entity, name)}{unconfirmed} ({text}); {auto}",
                )
            else:
                out[entity] = EntityStatus(
                    entity, EntityState.FAILED, f"{_renamed(entity, name)}{text}"
                )
        return out

    async def publish(self, records: Sequence[Record]) -> None:
        if not records:
            return
        if self._process is None:
            raise RuntimeError("publish() before open()")
        if self._state.state is ConnectionState.FAILED:
            self._count(records, self.tracker.failed, self._state.last_error or "producer failed")
            return
        # With the cluster unreachable nothing will make room soon: the
        # overflow is dropped at once instead of holding the generator up.
        batch, counts = wire.encode_batch(
            records, drop_when_full=self._state.state is not ConnectionState.CONNECTED
        )
        for i, n in enumerate(counts):
            self._outstanding[i] += n
        # Waits while the producer process has no room: backpressure.
        await self._outbox.put(wire.frame(wire.BATCH, batch))

    async def flush(self, timeout: float) -> int:
        if self._process is None:
            return 0
        deadline = time.monotonic() + timeout
        try:
            # Every batch handed over so far is in the producer's queue or counted.
            await asyncio.wait_for(self._sync(), timeout)
        except TimeoutError:
            return self.pending()
        while self.pending() > 0 and not self._exited:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), remaining)
            except TimeoutError:
                break
        return self.pending()

    async def _sync(self) -> None:
        """Return once the producer process has handled and reported every earlier frame."""
        if self._exited:
            return
        token = next(self._tokens)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._syncs[token] = done
        await self._outbox.put(wire.frame(wire.SYNC, token))
        await done

    async def close(self) -> None:
        self._closing = True
        for task in (self._watch, self._probe):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        self._watch = self._probe = None
        if self._process is not None:
            await self._stop_producer()
        for i, entity in enumerate(TOPICS):
            if self._outstanding[i] > 0:
                self.tracker.lost_on_stop(entity, self._outstanding[i])
                self._outstanding[i] = 0
        if self._admin is not None:
            # No local name may keep the client alive: the last reference must
            # go in the closing thread, or destroying it would block the loop.
            clients: list[Any] = [self._admin]
            self._admin = None
            await self._destroy(clients)
        self._set_state(ConnectionState.CLOSED)

    async def _stop_producer(self) -> None:
        """Ask the producer process to stop; after :data:`CLOSE_WAIT` it is killed.

        It reports once more before it goes, so records delivered until then
        are counted; what its queue still holds is left for ``close`` to
        count as lost on stop.
        """
        process = self._process
        assert process is not None
        self._process = None
        self._closing = True
        reports = self._tasks[0]
        try:
            await asyncio.wait_for(self._outbox.put(wire.frame(wire.STOP)), CLOSE_WAIT)
            await asyncio.wait_for(asyncio.shield(reports), CLOSE_WAIT)
        except TimeoutError:
            log.warning("Kafka producer process did not stop within %ss; killing it", CLOSE_WAIT)
        if process.returncode is None:
            try:
                await asyncio.wait_for(process.wait(), CLOSE_WAIT)
            except TimeoutError:
                process.kill()
                await process.wait()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._report_stream is not None:
            self._report_stream.close()
            self._report_stream = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    async def _destroy(self, clients: list[Any]) -> None:
        """Destroy clients in a thread of their own, waiting for it a bounded time.

        Destroying a client joins its threads and may wait for requests in
        flight (an admin request the controller never answers). The thread
        empties ``clients`` so that the last references die there.
        """
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def run() -> None:
            try:
                while clients:
                    client = clients.pop()
                    del client
            finally:
                loop.call_soon_threadsafe(_set_done, done)

        threading.Thread(target=run, name="kafka-close", daemon=True).start()
        try:
            await asyncio.wait_for(done, CLOSE_WAIT)
        except TimeoutError:
            log.warning("Kafka client still closing after %ss; leaving it behind", CLOSE_WAIT)

    # --- talking to the producer process

    async def _write_frames(self, sock: socket.socket) -> None:
        """Write queued frames whole, in order; one writer, so frames never interleave."""
        loop = asyncio.get_running_loop()
        while True:
            pieces = await self._outbox.get()
            if self._exited:
                continue  # its records were counted when the process went
            try:
                for piece in pieces:
                    await loop.sock_sendall(sock, piece)
            except OSError as exc:
                # The process is gone; the report reader sees it and counts.
                log.debug("writing to the Kafka producer process failed: %s", exc)
                self._exited = True

    async def _read_reports(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                kind, length, n = wire.parse_head(await reader.readexactly(wire.HEAD_SIZE))
                lengths = wire.parse_lengths(await reader.readexactly(n * wire.LENGTH_SIZE))
                data = await reader.readexactly(length)
                buffers = [await reader.readexactly(size) for size in lengths]
                self._on_frame(kind, wire.decode(data, buffers))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            log.debug("producer process closed its end: %r", exc)
        await self._on_exit()

    async def _read_stderr(self, stream: asyncio.StreamReader) -> None:
        """Keep the last lines the process wrote to its error output: they explain a crash."""
        rest = b""
        while chunk := await stream.read(1 << 16):
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()[-1024:]
            self._stderr.extend(line.decode(errors="replace") for line in lines[-STDERR_LINES:])
        if rest:
            self._stderr.append(rest.decode(errors="replace"))

    def _on_frame(self, kind: bytes, body: Any) -> None:
        if kind == wire.REPORT:
            self._apply(body)
        elif kind == wire.SYNCED:
            done = self._syncs.pop(body, None)
            if done is not None:
                _set_done(done)
        elif self._started is not None and not self._started.done():
            self._started.set_result((kind, body))

    async def _on_exit(self) -> None:
        """The producer process closed its end: stopped when asked, or died."""
        self._exited = True
        for done in self._syncs.values():
            _set_done(done)
        self._syncs.clear()
        self._progress.set()
        process = self._process
        if self._closing or process is None:
            return
        code = await process.wait()
        # Its last words explain a crash; a traceback ends with the error line.
        last = next((line for line in reversed(self._stderr) if line.strip()), "")
        why = self._clean(f"the Kafka producer process exited with code {code}")
        if last:
            why += f": {self._clean(last.strip())}"
        if self._started is not None and not self._started.done():
            self._started.set_result((wire.STOP, why))
        self._set_state(ConnectionState.FAILED, why)
        for i, entity in enumerate(TOPICS):
            if self._outstanding[i] > 0:
                self.tracker.failed(entity, self._outstanding[i], why)
                self._outstanding[i] = 0

    def _apply(self, report: wire.Report) -> None:
        """Hand a report to the tracker: one call per topic and outcome."""
        outstanding = self._outstanding
        settled = 0
        for i, n in enumerate(report.delivered):
            if n:
                outstanding[i] -= n
                settled += n
                self.tracker.delivered(TOPICS[i], n)
        for i, n in enumerate(report.dropped):
            if n:
                outstanding[i] -= n
                self.tracker.dropped(TOPICS[i], n)
        for i, error, n in report.failed:
            outstanding[i] -= n
            settled += n
            name = self.plan.names[TOPICS[i]]
            self.tracker.failed(TOPICS[i], n, f"{name}: {self._clean(error)}")
        for level, line in report.logs:
            log.log(level, "%s", self._clean(line))
        if settled and self._state.state is ConnectionState.RETRYING:
            self._set_state(ConnectionState.CONNECTED)
        for err in report.errors:
            self._on_client_error(err)
        if report.stalled:
            self._set_state(
                ConnectionState.RETRYING,
                f"no delivery confirmed for {STALL_SECONDS:g}s with the buffer full",
            )
        self._progress.set()

    def _on_client_error(self, err: wire.ClientError) -> None:
        text = self._clean(err.text)
        if err.fatal:
            self._set_state(ConnectionState.FAILED, f"fatal: {text}")
            return
        if self._state.state in (ConnectionState.FAILED, ConnectionState.CLOSED):
            return
        code = err.code
        if code == KafkaError._ALL_BROKERS_DOWN:
            self._set_state(ConnectionState.RETRYING, self._last_transport or text)
        elif code in (KafkaError._TRANSPORT, KafkaError._RESOLVE):
            self._last_transport = text
            if self._state.state is not ConnectionState.CONNECTED:
                self._set_state(ConnectionState.RETRYING, text)
            else:
                # One broker dropping a connection is routine on a healthy
                # cluster; remember it, say retrying only when all are down.
                self._state.last_error = text
        else:
            self._set_state(ConnectionState.RETRYING, text)

    # --- while retrying

    async def _watch_loop(self) -> None:
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            if (
                self._state.state is ConnectionState.RETRYING
                and (self._probe is None or self._probe.done())
                and time.monotonic() >= self._next_probe
            ):
                self._probe = asyncio.create_task(self._reach(), name="kafka-probe")

    async def _reach(self) -> None:
        """While retrying, ask the cluster for metadata now and then: it says when it is back."""
        admin = self._admin
        if admin is None:
            return
        try:
            await asyncio.to_thread(
                admin.list_topics, self.plan.names[TRANSACTIONS], timeout=PROBE_TIMEOUT
            )
        except KafkaException:
            self._next_probe = time.monotonic() + self._probe_delay
            self._probe_delay = min(PROBE_BACKOFF[1], self._probe_delay * 2)
            return
        self._probe_delay = PROBE_BACKOFF[0]
        if self._state.state is ConnectionState.RETRYING:
            self._set_state(ConnectionState.CONNECTED)

    # --- status

    def _set_state(self, state: ConnectionState, error: str | None = None) -> None:
        if self._state.set(state, error):
            self.status_changed()

    def _clean(self, text: str) -> str:
        return redact(text, self._secrets) if self._secrets else text

    def pending(self) -> int:
        return sum(self._outstanding)

    def status(self) -> SinkStatus:
        return SinkStatus(
            self.kind,
            self.settings.kafka_bootstrap_servers or "",
            self._state.state,
            self._state.since,
            self._state.last_error,
            self._entities,
            self.pending(),
        )

    def _count(self, records: Sequence[Record], count: Callable[..., None], *reason: str) -> None:
        for cls, n in Counter(map(type, records)).items():
            count(TOPIC_OF_TYPE[cls], n, *reason)


def _renamed(entity: str, topic: str) -> str:
    """``"topic NAME: "`` when the topic is not named like its entity, else nothing."""
    return "" if topic == entity else f"topic {topic}: "


def _widen(sock: socket.socket) -> None:
    """Give the socket room for several batches (as much as the system allows).

    With the default (about 200 kB, a third of one unthrottled batch) the
    generator and the producer process keep waking each other up and take
    turns instead of running side by side: about a fifth of the rate lost.
    """
    for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
        except OSError:
            pass  # more than this system allows: its default will do


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
