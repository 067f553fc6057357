"""``--create-streams`` and ``--drop-entities``: DeltaStream set-up and clean-up as commands.

The original example creates topics but no relations to query, and leaves its
clean-up as three ``DROP ENTITY`` lines to paste. These two commands do both
through the same bounded client as the sink, and report in the CLI's style.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..config import Settings
from ..events import TOPICS
from .base import EntityState, EntityStatus
from .deltastream_client import (
    DeltaStreamOptions,
    SetupClient,
    StepFailed,
    execute,
    quote_ident,
    quote_text,
)
from .deltastream_errors import FaultKind

STREAM_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "onchain_transactions": (
        ("tx_hash", "VARCHAR"),
        ("block_number", "BIGINT"),
        ("event_timestamp", "BIGINT"),
        ("from_address", "VARCHAR"),
        ("to_address", "VARCHAR"),
        ("tx_token", "VARCHAR"),
        ("tx_amount", "DOUBLE"),
    ),
    "dex_prices": (
        ("event_timestamp", "BIGINT"),
        ("token_pair", "VARCHAR"),
        ("price", "DOUBLE"),
        ("join_helper", "VARCHAR"),
    ),
    "mempool_data": (
        ("event_timestamp", "BIGINT"),
        ("block_number", "BIGINT"),
        ("avg_gas_price_gwei", "INTEGER"),
    ),
}
"""Columns of the stream defined over each entity (``--create-streams``): the wire contract."""


def create_stream_sql(topic: str, store: str) -> str:
    """``CREATE STREAM`` over an entity, its JSON columns and event time."""
    columns = ", ".join(f"{quote_ident(n)} {t}" for n, t in STREAM_COLUMNS[topic])
    return (
        f"CREATE STREAM {quote_ident(topic)} ({columns}) WITH ("
        f"'store' = {quote_text(store)}, 'topic' = {quote_text(topic)}, "
        "'value.format' = 'json', 'timestamp' = 'event_timestamp')"
    )


@dataclass(frozen=True)
class CommandReport:
    """What a command did, line by line in the CLI's style, and whether all of it worked."""

    lines: list[str]
    ok: bool


Confirm = Callable[[str], bool | Awaitable[bool]]
"""Asks the user a yes/no question (may be async, e.g. a prompt read in a thread)."""


async def create_streams(settings: Settings) -> CommandReport:
    """Define a stream over each entity (creating missing entities first), if not defined.

    The streams carry the records' columns, ``'value.format' = 'json'`` and
    ``'timestamp' = 'event_timestamp'``, so detection queries can run at once.

    Raises:
        SinkError: DeltaStream cannot be used at all (token, server, database, store).
    """
    options = DeltaStreamOptions.from_settings(settings)
    admin = SetupClient(settings, options, "deltastream-command")
    lines = ["", "=== ENTITY SETUP ==="]
    ok = True
    try:
        await admin.connect()
        for status in await admin.ensure_entities():
            lines.append(_entity_line(status))
            ok = ok and status.ok
        lines += ["", "=== STREAMS ==="]
        try:
            existing = {s.name for s in await admin.call(lambda c: c.streams.list())}
        except StepFailed as failed:
            raise admin.error(failed.fault, "LIST STREAMS") from None
        for topic in TOPICS:
            if topic in existing:
                lines.append(f"✅ Stream '{topic}' already exists")
                continue
            sql = create_stream_sql(topic, settings.store_name)
            try:
                await admin.call(execute(sql))
            except StepFailed as failed:
                if "already exists" in failed.fault.message.lower():
                    lines.append(f"✅ Stream '{topic}' already exists")
                elif failed.fault.kind is FaultKind.AUTH or failed.fault.network is not None:
                    raise admin.error(failed.fault, f"create stream {topic}") from None
                else:
                    lines.append(f"❌ Stream '{topic}' failed: {failed.fault.message}")
                    ok = False
                continue
            lines.append(f"✅ Created stream '{topic}' over entity '{topic}' (JSON, event time)")
    finally:
        admin.close()
    return CommandReport(lines, ok)


async def drop_entities(settings: Settings, confirm: Confirm) -> CommandReport:
    """Drop the streams and entities this tool creates, after asking (unless ``--yes``).

    Only names this tool uses are touched: the three entities in ``STORE_NAME``
    and streams of the same names.

    Raises:
        SinkError: DeltaStream cannot be used at all (token, server, database, store).
    """
    options = DeltaStreamOptions.from_settings(settings)
    admin = SetupClient(settings, options, "deltastream-command")
    store = settings.store_name
    lines: list[str] = []
    ok = True
    try:
        await admin.connect()
        entities = [t for t in TOPICS if t in await admin.entity_names()]
        try:
            stream_names = {s.name for s in await admin.call(lambda c: c.streams.list())}
        except StepFailed as failed:
            raise admin.error(failed.fault, "LIST STREAMS") from None
        streams = [t for t in TOPICS if t in stream_names]
        if not entities and not streams:
            return CommandReport([f"Nothing to drop: none of {', '.join(TOPICS)} exists."], True)
        what = [f"stream '{s}'" for s in streams] + [f"entity '{e}'" for e in entities]
        question = (
            f"Drop {', '.join(what)} in DeltaStream (store '{store}')? "
            "The entities' records are deleted with them."
        )
        if not settings.extra.get("yes"):
            answer = confirm(question)
            if inspect.isawaitable(answer):
                answer = await answer
            if not answer:
                return CommandReport(["Nothing dropped."], True)
        statements = [(f"stream '{s}'", f"DROP STREAM {quote_ident(s)}") for s in streams]
        statements += [
            (f"entity '{e}'", f"DROP ENTITY {quote_ident(e)} IN STORE {quote_ident(store)}")
            for e in entities
        ]
        for label, sql in statements:
            try:
                await admin.call(execute(sql))
            except StepFailed as failed:
                if failed.fault.kind is FaultKind.AUTH or failed.fault.network is not None:
                    raise admin.error(failed.fault, f"drop {label}") from None
                lines.append(f"❌ Could not drop {label}: {failed.fault.message}")
                ok = False
                continue
            lines.append(f"🗑️  Dropped {label}")
    finally:
        admin.close()
    return CommandReport(lines, ok)


def _entity_line(status: EntityStatus) -> str:
    if status.state is EntityState.EXISTS:
        return f"✅ Entity '{status.name}' already exists"
    if status.state is EntityState.CREATED:
        return f"✅ Created entity '{status.name}' ({status.detail})"
    return f"❌ Entity '{status.name}' failed: {status.detail}"
