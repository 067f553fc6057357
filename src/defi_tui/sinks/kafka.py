"""Kafka sink: records straight into a Kafka cluster through confluent-kafka.

Configuration: ``KAFKA_BOOTSTRAP_SERVERS`` plus any librdkafka property, from
``KAFKA_*`` variables or ``--kafka-config FILE`` (see :mod:`defi_tui.config`).
Secret values are masked in every message this module writes.

Setup lists the cluster's topics and creates the missing ones with the admin
client, bounded by ``--kafka-setup-timeout``: a cluster that does not answer
(or whose controller never confirms a creation) gets a clear per-topic status
and the sink goes on producing. Every admin call runs off the event loop.

Producing happens on the loop thread: ``Producer.produce`` only copies the
record into librdkafka's queue (its own threads do the network I/O), so a
tight loop of them is the fastest path from Python. Values are the JSON of
DESIGN.md, byte for byte; each record's ``event_timestamp`` is its Kafka
timestamp; keys put the records a detection query joins in one partition:

- ``onchain_transactions``: the account on the user side of the transfer
  (the sender, or the receiver when the sender is the flash-loan pool or the
  DEX router). A loan (provider → attacker), the swap and the repayment
  (attacker → provider) all carry the attacker's address, so the flash-loan
  pair join finds both sides in one partition, in order;
- ``dex_prices``: ``token_pair``, the partition of the price-drop query
  (``LAG(price) OVER (PARTITION BY token_pair ...)``);
- ``mempool_data``: ``block_number``, the column gas samples are joined on.

Delivery reports are served by ``poll()`` on the loop (cheap, never blocking)
after every batch and a few times a second, or by a poll off the loop while
waiting for room or for a flush; they are counted per topic and handed to the
tracker in one call per topic. The producer's queue
(``queue.buffering.max.messages`` = ``BUFFER_SIZE``) is the bounded buffer.
When it is full: while the cluster keeps confirming deliveries, ``publish``
waits for room (backpressure, so an unthrottled load run loses nothing);
once nothing has been confirmed for :data:`STALL_SECONDS`, the overflow is
counted as dropped until deliveries resume.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, ClusterMetadata, NewTopic  # type: ignore[attr-defined]

from ..config import Secret, Settings, redact
from ..events import (
    DEX_ROUTER,
    FLASH_LOAN_PROVIDER,
    MEMPOOL,
    PRICES,
    RECORD_TYPES,
    TOPIC_OF_TYPE,
    TOPICS,
    TRANSACTIONS,
    DexPrice,
    MempoolSample,
    Record,
    Transaction,
)
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
PUMP_INTERVAL = 0.05
"""How often delivery reports are collected while no batch arrives (seconds)."""
WAIT_POLL = 0.05
"""Longest single off-loop poll while waiting for room or a flush (seconds)."""
PROBE_BACKOFF = (0.5, 30.0)
"""First and longest pause between reachability checks while retrying (seconds)."""
PROBE_TIMEOUT = 1.0
"""Longest wait of one reachability check (seconds)."""
CLOSE_WAIT = 2.0
"""How long ``close`` waits for the client's threads to finish (seconds)."""

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


# --- values and keys


def _dict_builder(cls: type[Record]) -> Callable[[Any], dict[str, Any]]:
    """A function turning a record of type ``cls`` into its JSON object, fields in wire order.

    Generated from the record's own fields: a dict display is the cheapest
    way to hand a tuple to the JSON encoder.
    """
    body = ", ".join(f"{name!r}: r[{i}]" for i, name in enumerate(cls._fields))
    builder: Callable[[Any], dict[str, Any]] = eval(f"lambda r: {{{body}}}")
    return builder


_BUILDERS = {cls: _dict_builder(cls) for cls in RECORD_TYPES.values()}
CONTRACTS = frozenset({FLASH_LOAN_PROVIDER, DEX_ROUTER})
"""Protocol addresses: a transfer is keyed by the account on its other side."""


def encode_value(record: Record) -> bytes:
    """The record's Kafka value: byte for byte :func:`defi_tui.events.to_json`."""
    return orjson.dumps(_BUILDERS[type(record)](record))


def account_key(from_address: str, to_address: str) -> str:
    """Key of a transfer: the account that is not a protocol contract.

    The sender, or the receiver when the sender is the flash-loan pool or the
    DEX router: a loan, the swap and the repayment all carry the attacker's
    address, so the pair join (loan.to_address = repay.from_address) finds
    both sides in one partition, and the attack's transfers stay in order.
    """
    return to_address if from_address in CONTRACTS else from_address


def record_key(record: Record) -> str:
    """The Kafka message key of a record (see the module docstring for why)."""
    if isinstance(record, Transaction):
        return account_key(record.from_address, record.to_address)
    if isinstance(record, DexPrice):
        return record.token_pair
    return str(record.block_number)


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


def describe_config_error(settings: Settings, exc: BaseException) -> str:
    """One line for a client configuration the library refused, naming where it came from."""
    text = str(exc.args[0].str() if exc.args and isinstance(exc.args[0], KafkaError) else exc)
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
    """Publishes records to three Kafka topics with an idempotent producer.

    Args:
        settings: ``kafka_bootstrap_servers`` and ``kafka_properties`` configure
            the client; ``buffer_size`` bounds its queue; topic options come
            from ``settings.extra`` (see :class:`TopicPlan`).
    """

    kind = "kafka"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.plan = TopicPlan.from_settings(settings)
        self._entity_of = {name: entity for entity, name in self.plan.names.items()}
        self._secrets = secret_values(settings)
        self._state = StateClock()
        self._entities: tuple[EntityStatus, ...] = ()
        self._producer: Producer | None = None
        self._admin: AdminClient | None = None
        self._pump: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[None] | None = None
        self._next_probe = 0.0
        self._probe_delay = PROBE_BACKOFF[0]
        self._waiter: concurrent.futures.Future[Any] | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._accepted: dict[str, int] = dict.fromkeys(TOPICS, 0)
        self._settled = 0
        self._stalled = False
        self._last_transport: str | None = None
        # Filled by the client's callbacks inside poll(), read after it returns.
        self._ok: dict[str, int] = dict.fromkeys(self.plan.names.values(), 0)
        self._bad: dict[tuple[str, str], int] = {}
        self._client_errors: deque[KafkaError] = deque(maxlen=32)
        self._fatal: list[KafkaError] = []
        self._on_delivery = {name: self._delivery_callback(name) for name in self._ok}

    # --- client callbacks (run in the thread that calls poll)

    def _delivery_callback(self, topic: str) -> Callable[[KafkaError | None, Message], None]:
        """The delivery-report callback of every message to ``topic``.

        One callback per topic, passed with each message, instead of one for
        the producer: it knows its topic without asking the message, which
        is a call per record saved on the hottest path.
        """
        ok = self._ok
        bad = self._bad

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            if err is None:
                ok[topic] += 1
            else:
                key = (topic, str(err.str()))
                bad[key] = bad.get(key, 0) + 1

        return on_delivery

    def _error_callback(self) -> Callable[[KafkaError], None]:
        errors = self._client_errors
        fatal = self._fatal

        def on_error(err: KafkaError) -> None:
            # A fatal error must not be pushed out of the bounded list by the
            # transport errors that follow it.
            (fatal if err.fatal() else errors).append(err)

        return on_error

    # --- lifecycle

    async def open(self) -> list[EntityStatus]:
        names = list(self.plan.names.values())
        if len(set(names)) != len(names):
            raise SinkError(
                "two entities would share one Kafka topic ("
                + ", ".join(f"{e}→{n}" for e, n in self.plan.names.items())
                + "); allowed: a distinct name per topic"
            )
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="kafka-poll"
        )
        common = client_properties(self.settings)
        conf: dict[str, Any] = {
            **common,
            "enable.idempotence": common.get("enable.idempotence", "true"),
            "queue.buffering.max.messages": self.settings.buffer_size,
            "logger": log,
            "error_cb": self._error_callback(),
        }
        try:
            # Building a client starts its threads; keep even that off the loop.
            self._producer = await asyncio.to_thread(Producer, conf)
        except (KafkaException, ValueError, TypeError) as exc:
            raise SinkError(describe_config_error(self.settings, exc)) from None
        self._pump = asyncio.create_task(self._pump_loop(), name="kafka-delivery-reports")
        entities = await self._setup_topics({**common, "logger": log})
        self._entities = tuple(entities)
        self.status_changed()
        return entities

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
        if self._producer is None:
            raise RuntimeError("publish() before open()")
        if self._state.state is ConnectionState.FAILED:
            self._count(records, self.tracker.failed, self._state.last_error or "producer failed")
            return
        done = self._produce(records, 0)
        while done < len(records):
            if not await self._wait_for_room():
                self._count(records[done:], self.tracker.dropped)
                break
            done = self._produce(records, done)
        self._drain()

    def _produce(self, records: Sequence[Record], start: int) -> int:
        """Encode and queue ``records[start:]``; returns how far it got before the queue was full.

        Each value is encoded right before its ``produce`` and released right
        after (librdkafka copies it): cheaper than encoding the batch first,
        whose thousands of live buffers cost more than the encoding itself.
        """
        assert self._producer is not None
        produce = self._producer.produce
        dumps = orjson.dumps
        names = self.plan.names
        tx_topic, px_topic, mp_topic = names[TRANSACTIONS], names[PRICES], names[MEMPOOL]
        on_tx, on_px, on_mp = (self._on_delivery[t] for t in (tx_topic, px_topic, mp_topic))
        tx, px = Transaction, DexPrice
        tx_dict, px_dict, mp_dict = (
            _BUILDERS[cls] for cls in (Transaction, DexPrice, MempoolSample)
        )
        contracts = CONTRACTS
        n_tx = n_px = n_mp = 0
        n = len(records)
        i = start
        while i < n:
            try:
                for i in range(i, n):  # noqa: B020 - resumes after a failed record
                    # Untyped on purpose: the type test below is the narrowing,
                    # and indexing a tuple is the cheapest field access.
                    r: Any = records[i]
                    cls = type(r)
                    # Positional arguments: topic, value, key, partition,
                    # callback, on_delivery, timestamp (keywords cost more).
                    # Counted after produce returns: a refused record is not.
                    if cls is tx:
                        sender = r[3]
                        key = r[4] if sender in contracts else sender
                        produce(tx_topic, dumps(tx_dict(r)), key, -1, on_tx, None, r[2])
                        n_tx += 1
                    elif cls is px:
                        produce(px_topic, dumps(px_dict(r)), r[1], -1, on_px, None, r[0])
                        n_px += 1
                    else:
                        produce(mp_topic, dumps(mp_dict(r)), str(r[1]), -1, on_mp, None, r[0])
                        n_mp += 1
                i = n
            except BufferError:
                break
            except (KafkaException, orjson.JSONEncodeError) as exc:
                # This record only (too large, unknown topic, not encodable, ...).
                self._count(records[i : i + 1], self.tracker.failed, self._clean(_error_text(exc)))
                i += 1
        accepted = self._accepted
        accepted[TRANSACTIONS] += n_tx
        accepted[PRICES] += n_px
        accepted[MEMPOOL] += n_mp
        return i

    async def _wait_for_room(self) -> bool:
        """Backpressure: wait while deliveries progress; False once they have stalled.

        With the cluster down (retrying) nothing will make room soon: the
        overflow is dropped at once instead of holding the generator up.
        """
        self._drain()
        if self._stalled or self._state.state is not ConnectionState.CONNECTED:
            return False
        deadline = time.monotonic() + STALL_SECONDS
        while True:
            if await self._poll_off_loop(min(WAIT_POLL, max(0.0, deadline - time.monotonic()))):
                return True
            if time.monotonic() >= deadline:
                self._stalled = True
                self._set_state(
                    ConnectionState.RETRYING,
                    f"no delivery confirmed for {STALL_SECONDS:g}s with the buffer full",
                )
                return False

    async def flush(self, timeout: float) -> int:
        if self._producer is None:
            return 0
        deadline = time.monotonic() + timeout
        self._drain()
        while self.pending() > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            await self._poll_off_loop(min(WAIT_POLL, remaining))
        return self.pending()

    async def close(self) -> None:
        for task in (self._pump, self._probe):
            if task is not None:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        self._pump = self._probe = None
        if self._waiter is not None and not self._waiter.done():
            # A poll still running in its thread (its caller was cancelled).
            await asyncio.wrap_future(self._waiter)
        self._drain()
        for entity in TOPICS:
            left = self._pending_of(entity)
            if left > 0:
                self.tracker.lost_on_stop(entity, left)
        # No local name may keep a client alive: the last reference must go in
        # the closing thread, or destroying the client would block the loop.
        clients = [c for c in (self._producer, self._admin) if c is not None]
        self._producer = self._admin = None
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        if clients:
            await self._destroy(clients)
        self._set_state(ConnectionState.CLOSED)

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
                    if isinstance(client, Producer):
                        # Pending records were counted as lost; do not wait for them.
                        client.purge()
                    del client
            finally:
                loop.call_soon_threadsafe(_set_done, done)

        threading.Thread(target=run, name="kafka-close", daemon=True).start()
        try:
            await asyncio.wait_for(done, CLOSE_WAIT)
        except TimeoutError:
            log.warning("Kafka client still closing after %ss; leaving it behind", CLOSE_WAIT)

    # --- delivery reports

    def _drain(self) -> None:
        """Serve delivery reports and client errors now, on the loop (never blocks)."""
        if self._producer is None or (self._waiter is not None and not self._waiter.done()):
            return
        self._producer.poll(0)
        self._apply()

    async def _poll_off_loop(self, timeout: float) -> bool:
        """Poll in a thread for up to ``timeout`` s; whether any record was settled."""
        assert self._producer is not None and self._executor is not None
        before = self._settled
        if self._waiter is None or self._waiter.done():
            self._waiter = self._executor.submit(self._producer.poll, timeout)
        await asyncio.wrap_future(self._waiter)
        self._apply()
        return self._settled > before

    def _apply(self) -> None:
        """Hand what the callbacks collected to the tracker: one call per topic."""
        settled = 0
        for name, n in self._ok.items():
            if n:
                self._ok[name] = 0
                settled += n
                self.tracker.delivered(self._entity_of[name], n)
        if self._bad:
            bad = list(self._bad.items())
            self._bad.clear()
            for (name, error), n in bad:
                settled += n
                self.tracker.failed(self._entity_of[name], n, f"{name}: {self._clean(error)}")
        if settled:
            self._settled += settled
            self._stalled = False
            if self._state.state is ConnectionState.RETRYING:
                self._set_state(ConnectionState.CONNECTED)
        while self._client_errors:
            self._on_client_error(self._client_errors.popleft())
        if self._fatal:
            self._on_client_error(self._fatal.pop(0))

    def _on_client_error(self, err: KafkaError) -> None:
        text = self._clean(str(err.str()))
        if err.fatal():
            self._set_state(ConnectionState.FAILED, f"fatal: {text}")
            return
        if self._state.state in (ConnectionState.FAILED, ConnectionState.CLOSED):
            return
        code = err.code()
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

    async def _pump_loop(self) -> None:
        while True:
            await asyncio.sleep(PUMP_INTERVAL)
            self._drain()
            if (
                self._state.state is ConnectionState.RETRYING
                and (self._probe is None or self._probe.done())
                and time.monotonic() >= self._next_probe
            ):
                self._probe = asyncio.create_task(self._reach(), name="kafka-probe")

    async def _reach(self) -> None:
        """While retrying, ask the cluster for metadata now and then: it says when it is back."""
        producer = self._producer
        if producer is None:
            return
        try:
            await asyncio.to_thread(
                producer.list_topics, self.plan.names[TRANSACTIONS], timeout=PROBE_TIMEOUT
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

    def _pending_of(self, entity: str) -> int:
        c = self.tracker.counters[entity]
        return max(0, self._accepted[entity] - c.delivered - c.failed - c.lost_on_stop)

    def pending(self) -> int:
        return sum(self._pending_of(entity) for entity in TOPICS)

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


def _set_done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
