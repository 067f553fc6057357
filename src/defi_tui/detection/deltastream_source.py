"""``--detect deltastream:QUERY``: the rows of the user's continuous query, through the SDK.

The query is submitted with the connector's ``APIConnection.query`` (the
SDK's ``query_sql`` collects every row before it returns, which a continuous
query never lets happen). For a continuous ``SELECT`` DeltaStream answers
with a data-plane request of type ``streaming``, and the connector reads the
rows from a WebSocket as they come (its ``StreamingRows``); each row is one
detection, a dict from column name to value.

The SDK's client is synchronous under ``async def``, so everything runs on a
worker thread with its own event loop (the one the DeltaStream sink uses);
rows are handed to the main loop as they arrive.

Limits of what the connector offers: a stream that ends (the query stopped,
the WebSocket dropped) is not resumed, the source says so and stops reading;
rows that arrived in the very moment the connection closed may be lost by the
connector; a ``SELECT`` that DeltaStream answers as a finite result set is
read to its end once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from decimal import Decimal
from typing import Any

from ..config import Settings
from ..sinks.deltastream_client import DeltaStreamOptions, Worker, make_client
from ..sinks.deltastream_errors import classify, one_line, scrub
from .base import (
    Detection,
    DetectionSource,
    SourceContext,
    SourceState,
    detector_name,
    event_time,
)

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2
"""How often the reader looks up from waiting for a row to check for a stop."""
LABEL_CHARS = 32
"""Query text shown in the source's label."""


def plain(value: Any) -> Any:
    """A row value as JSON would carry it: the connector's BIGINT ``Decimal`` as a number."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


class DeltaStreamSource(DetectionSource):
    """Reads detections from one continuous DeltaStream query."""

    kind = "deltastream"

    def __init__(self, target: str, settings: Settings) -> None:
        super().__init__(target, settings)
        self._stop = threading.Event()
        self._worker: Worker | None = None
        self._job: asyncio.Future[None] | None = None

    @property
    def label(self) -> str:
        text = " ".join(self.target.split())
        if len(text) > LABEL_CHARS:
            text = text[: LABEL_CHARS - 1] + "…"
        return f"{self.kind}:{text}"

    async def start(self, ctx: SourceContext) -> None:
        loop = asyncio.get_running_loop()
        status = self._status
        secret = self.settings.deltastream_token
        label = self.label
        sql = self.target.strip().rstrip(";")
        stop = self._stop

        def deliver(rows: list[dict[str, Any]]) -> None:
            now = ctx.wall_ms()
            detections = [
                Detection(label, detector_name(row, label), row, now, event_time(row))
                for row in rows
            ]
            status.received += len(detections)
            ctx.emit(detections)

        def set_state(state: SourceState, error: str | None = None) -> None:
            status.state = state
            if error is not None:
                status.last_error = error
            self.status_changed()

        async def read(client: Any) -> None:
            rows = await client.connection.query(sql)
            columns = [c.name for c in rows.columns()]
            loop.call_soon_threadsafe(set_state, SourceState.READING)
            rows_iter = rows.__aiter__()
            waiting: asyncio.Future[Any] | None = None
            try:
                while not stop.is_set():
                    if waiting is None:
                        waiting = asyncio.ensure_future(rows_iter.__anext__())
                    # Never cancel the pending read: the connector would drop the
                    # row it hands to a cancelled reader. Look up, then wait on.
                    done, _ = await asyncio.wait({waiting}, timeout=POLL_SECONDS)
                    if not done:
                        ws = getattr(rows, "ws", None)
                        if ws is not None and getattr(ws, "closed", False):
                            break
                        continue
                    try:
                        row = waiting.result()
                    except StopAsyncIteration:
                        break
                    waiting = None
                    if row is None:
                        continue
                    values = {name: plain(v) for name, v in zip(columns, row, strict=False)}
                    loop.call_soon_threadsafe(deliver, [values])
            finally:
                if waiting is not None:
                    waiting.cancel()
                await rows.close()

        def finished(job: asyncio.Future[None]) -> None:
            if stop.is_set():
                return
            exc = job.exception() if not job.cancelled() else None
            if exc is None:
                set_state(SourceState.STOPPED, "the query's result stream ended")
            else:
                fault = classify(exc, secret)
                message = scrub(one_line(f"DeltaStream query failed: {fault.message}"), secret)
                set_state(SourceState.FAILED, message)

        try:
            options = DeltaStreamOptions.from_settings(self.settings)
            self._worker = Worker(
                "detect-deltastream", make_client(self.settings, options, use_database=True)
            )
        except Exception as exc:
            set_state(SourceState.FAILED, scrub(one_line(str(exc)), secret))
            return
        self._job = self._worker.call(read)
        self._job.add_done_callback(finished)

    async def stop(self) -> None:
        self._stop.set()
        job = self._job
        if job is not None and not job.done():
            try:
                await asyncio.wait_for(asyncio.shield(job), POLL_SECONDS * 10)
            except (TimeoutError, Exception):  # a failed or slow reader is left to its thread
                log.debug("DeltaStream detection reader did not stop cleanly", exc_info=True)
        if self._worker is not None:
            self._worker.stop()
        self._status.state = SourceState.STOPPED
        self.status_changed()
