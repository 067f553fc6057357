"""The Kafka sink's producer process: batches in, delivery reports out.

Producing costs one Python call per record, and its delivery report another,
on whichever thread does it; the generator needs a core of its own as much.
So the sink (:mod:`.kafka`) encodes and this process produces, each on its own
core. Run by the sink as ``python -m defi_tui.sinks.kafka_producer FD``, where
FD is its end of a socket pair; the configuration, secrets included, comes
over that socket and never on the command line.

One thread does everything: it reads a frame when one is there (a producer
waiting for room reads nothing, which holds the sink back instead of piling
batches up), produces, serves delivery reports and writes what it learnt back
as :class:`~.kafka_wire.Report` frames; a second thread would only fight it
for the interpreter lock.

The producer's queue (``queue.buffering.max.messages``) is the bounded
buffer. When it is full: if the sink says the cluster is not reachable the
overflow is dropped at once; otherwise this process waits for room while the
cluster keeps confirming deliveries, and once nothing has been confirmed for
``stall_seconds`` it drops the overflow until deliveries resume.
"""

from __future__ import annotations

import logging
import os
import select
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from . import kafka_wire as wire

IDLE_WAIT = 0.02
"""Longest wait for a frame before delivery reports are served again (seconds)."""
WAIT_POLL = 0.05
"""Longest single poll while waiting for room in a full queue (seconds)."""
LOG_LINES = 64
"""Log lines kept between two reports; the oldest go first."""
ERRORS_KEPT = 32
"""Client errors kept between two reports (fatal ones always are)."""


class _Forward(logging.Handler):
    """Keeps librdkafka's log lines for the next report."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: deque[tuple[int, str]] = deque(maxlen=LOG_LINES)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelno, record.getMessage()))


class ProducerProcess:
    """Produces the batches that arrive on ``conn`` and reports back on it."""

    def __init__(self, conn: socket.socket, conf: dict[str, Any], topics: list[str], stall: float):
        self._conn = conn
        self._topics = topics
        self._stall = stall
        self._delivered = [0, 0, 0]
        self._dropped = [0, 0, 0]
        self._failed: dict[tuple[int, str], int] = {}
        self._errors: list[wire.ClientError] = []
        self._stalled = False
        self._stall_reported = False
        self._log = _Forward()
        logger = logging.getLogger("defi_tui.kafka_producer")
        logger.propagate = False
        logger.addHandler(self._log)
        logger.setLevel(logging.DEBUG)
        self._callbacks = [self._delivery_callback(i) for i in range(len(topics))]
        self.producer = Producer({**conf, "logger": logger, "error_cb": self._on_error})

    def _delivery_callback(self, topic: int) -> Callable[[KafkaError | None, Any], None]:
        """The delivery-report callback of every message to one topic: it needs no lookup."""
        delivered = self._delivered
        failed = self._failed

        def on_delivery(err: KafkaError | None, msg: Any) -> None:
            if err is None:
                delivered[topic] += 1
            else:
                key = (topic, str(err.str()))
                failed[key] = failed.get(key, 0) + 1

        return on_delivery

    def _on_error(self, err: KafkaError) -> None:
        # Bounded between two reports, but a fatal error is never left out.
        if err.fatal() or len(self._errors) < ERRORS_KEPT:
            self._errors.append(wire.ClientError(err.code(), str(err.str()), err.fatal()))

    # --- producing

    def produce(self, batch: wire.Batch) -> None:
        for topic, block in enumerate(batch.blocks):
            if block is not None:
                self._produce_block(topic, block, batch.drop_when_full)
        self.producer.poll(0)

    def _produce_block(self, topic: int, block: wire.Block, drop_when_full: bool) -> None:
        produce = self.producer.produce
        name, on_delivery = self._topics[topic], self._callbacks[topic]
        values, ends, keys, stamps = block.values, block.ends, block.keys, block.timestamps
        assert isinstance(values, bytes), "a block arrives with its values as bytes"
        n = len(ends)
        i = start = 0
        while i < n:
            try:
                for i in range(i, n):  # noqa: B020 - resumes after a refused record
                    end = ends[i]
                    # Positional: topic, value, key, partition, callback,
                    # on_delivery, timestamp (keywords cost more).
                    produce(name, values[start:end], keys[i], -1, on_delivery, None, stamps[i])
                    start = end
                i = n
            except BufferError:
                if drop_when_full or not self._wait_for_room():
                    self._dropped[topic] += n - i
                    return
            except KafkaException as exc:
                # This record only (too large, unknown topic, ...).
                key = (topic, _error_text(exc))
                self._failed[key] = self._failed.get(key, 0) + 1
                start = ends[i]
                i += 1

    def _wait_for_room(self) -> bool:
        """Backpressure: wait while deliveries progress; False once they have stalled."""
        if self._stalled:
            return False
        before = sum(self._delivered)
        deadline = time.monotonic() + self._stall
        while time.monotonic() < deadline:
            self.producer.poll(WAIT_POLL)
            progressed = sum(self._delivered) > before
            self.report()
            if progressed:
                return True
        self._stalled = True
        return False

    # --- reporting

    def report(self) -> None:
        """Send what was learnt since the last report, if anything."""
        delivered, dropped = self._delivered, self._dropped
        if any(delivered):
            self._stalled = False
        stalled = self._stalled and not self._stall_reported
        if (
            not (any(delivered) or any(dropped) or self._failed or self._errors or self._log.lines)
            and not stalled
        ):
            return
        self._stall_reported = self._stalled
        report = wire.Report(
            (delivered[0], delivered[1], delivered[2]),
            (dropped[0], dropped[1], dropped[2]),
            tuple((t, e, n) for (t, e), n in self._failed.items()),
            tuple(self._errors),
            tuple(self._log.lines),
            stalled,
        )
        delivered[:] = dropped[:] = [0, 0, 0]
        self._failed.clear()
        self._errors.clear()
        self._log.lines.clear()
        send(self._conn, wire.REPORT, report)

    def serve(self) -> None:
        """Handle frames until STOP or the sink's end closes."""
        poll = self.producer.poll
        conn = self._conn
        read = _reader(conn)
        while True:
            if not select.select([conn], [], [], IDLE_WAIT)[0]:
                poll(0)
                self.report()
                continue
            try:
                kind, body = wire.read_frame(read)
            except EOFError:
                kind, body = wire.STOP, None
            if kind == wire.BATCH:
                self.produce(body)
            elif kind == wire.SYNC:
                poll(0)
                self.report()
                send(conn, wire.SYNCED, body)
                continue
            elif kind == wire.STOP:
                poll(0)
                self.report()
                return
            self.report()


def _error_text(exc: BaseException) -> str:
    if exc.args and isinstance(exc.args[0], KafkaError):
        return str(exc.args[0].str())
    return str(exc)


def send(conn: socket.socket, kind: bytes, body: Any = None) -> None:
    for piece in wire.frame(kind, body):
        conn.sendall(piece)


def _reader(conn: socket.socket) -> Callable[[int], bytes]:
    """Blocking exact reads: each one call, straight into the bytes it returns."""

    def read(n: int) -> bytes:
        data = conn.recv(n, socket.MSG_WAITALL)
        if len(data) == n or not data:
            return data
        # Cut short (by a signal): read on until n bytes or the end.
        parts = [data]
        got = len(data)
        while got < n:
            more = conn.recv(n - got, socket.MSG_WAITALL)
            if not more:
                break
            parts.append(more)
            got += len(more)
        return b"".join(parts)

    return read


def main(argv: list[str]) -> int:
    conn = socket.socket(fileno=int(argv[1]))
    # Ctrl-C in a terminal reaches the whole process group; the sink decides
    # when this process stops, after its bounded flush.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Nothing else may write to the socket, and a stray print must not reach
    # the sink's terminal: standard output goes where standard error goes.
    os.dup2(2, 1)
    try:
        kind, config = wire.read_frame(_reader(conn))
    except EOFError:
        return 0
    if kind != wire.CONFIG:
        return 0
    try:
        process = ProducerProcess(conn, config["conf"], config["topics"], config["stall_seconds"])
    except (KafkaException, ValueError, TypeError) as exc:
        send(conn, wire.REFUSED, _error_text(exc))
        return 2
    send(conn, wire.READY)
    process.serve()
    conn.shutdown(socket.SHUT_WR)
    # Records still queued are the sink's to count as lost on stop; destroying
    # the client would wait for them (or for requests a broker never answers).
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
