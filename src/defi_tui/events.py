"""The three record types and their JSON form: the wire contract.

Field names, their order and their JSON types are what downstream queries
(Flink SQL on Kafka / DeltaStream) are written against, so they never change
here without changing every sink and query with them.

Records are ``NamedTuple``s: immutable, ordered like the wire form, and cheap
enough to build at several hundred thousand per second.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple, get_type_hints

import orjson

TRANSACTIONS = "onchain_transactions"
"""Topic / entity of on-chain transfers."""
PRICES = "dex_prices"
"""Topic / entity of DEX price updates."""
MEMPOOL = "mempool_data"
"""Topic / entity of mempool gas samples."""

TOPICS: tuple[str, str, str] = (TRANSACTIONS, PRICES, MEMPOOL)
"""Every topic, in the order they are set up and reported."""

FLASH_LOAN_PROVIDER = "0xA9754f1D6516a24A413148Db4534A4684344C1fE"
"""Simulated Aave pool that lends the attacker's flash loan."""
DEX_ROUTER = "0x7a250d5630B4cF539739dF2C5dAcb4c659F2488D"
"""Simulated Uniswap V2 router that the attacker swaps through."""

TOKEN_PAIR = "WETH/DAI"
JOIN_HELPER = "A"


class Transaction(NamedTuple):
    """One transfer on chain (topic ``onchain_transactions``)."""

    tx_hash: str
    block_number: int
    event_timestamp: int
    from_address: str
    to_address: str
    tx_token: str
    tx_amount: float

    @property
    def topic(self) -> str:
        return TRANSACTIONS


class DexPrice(NamedTuple):
    """One WETH/DAI price from the DEX (topic ``dex_prices``)."""

    event_timestamp: int
    token_pair: str
    price: float
    join_helper: str

    @property
    def topic(self) -> str:
        return PRICES


class MempoolSample(NamedTuple):
    """Average gas price seen in the mempool for a block (topic ``mempool_data``)."""

    event_timestamp: int
    block_number: int
    avg_gas_price_gwei: int

    @property
    def topic(self) -> str:
        return MEMPOOL


Record = Transaction | DexPrice | MempoolSample
"""Any record the simulator produces."""

RECORD_TYPES: dict[str, type[Transaction] | type[DexPrice] | type[MempoolSample]] = {
    TRANSACTIONS: Transaction,
    PRICES: DexPrice,
    MEMPOOL: MempoolSample,
}
"""Record type by topic."""

TOPIC_OF_TYPE: dict[type, str] = {cls: topic for topic, cls in RECORD_TYPES.items()}
"""Topic by record type: a dict lookup where a hot loop cannot afford a call."""


def topic_of(record: Record) -> str:
    """The topic a record is published to."""
    return TOPIC_OF_TYPE[type(record)]


def to_dict(record: Record) -> dict[str, Any]:
    """The record as a JSON-ready dict, fields in wire order."""
    return dict(zip(record._fields, record, strict=True))


def to_json(record: Record) -> bytes:
    """The record's JSON value, as published to its topic."""
    return orjson.dumps(dict(zip(record._fields, record, strict=True)))


def to_json_str(record: Record) -> str:
    """The record's JSON value as text (console output, SQL literals)."""
    return to_json(record).decode()


def _line_template(topic: str, cls: type[Record]) -> str:
    fmt = {str: '"%s"', int: "%d", float: "%r"}
    hints = get_type_hints(cls)
    fields = ",".join(f'"{name}":{fmt[hints[name]]}' for name in cls._fields)
    return f'{{"topic":"{topic}","record":{{{fields}}}}}'


_LINE = {cls: _line_template(topic, cls) for topic, cls in RECORD_TYPES.items()}
_QUOTES = {cls: t.count('"') for cls, t in _LINE.items()}
_UNSAFE = bytes([*range(0x0A), *range(0x0B, 0x20), ord("\\")])
"""Bytes that a template cannot emit raw: control characters (line breaks are
counted separately, as one must sit between records) and the backslash."""


def to_jsonl(records: Sequence[Record]) -> bytes:
    """Records as JSON lines ``{"topic": ..., "record": {...}}``: the recording format.

    The same form is printed by ``--format jsonl``, so a recording and a pipe
    can be read by the same consumer.
    """
    if not records:
        return b""
    line = _LINE
    data = "\n".join([line[type(r)] % r for r in records]).encode()
    # The fast path fills fixed templates. It is exact only while no string
    # needs escaping and every float is finite; one scan of the batch checks
    # that, and any doubt sends the whole batch through the JSON encoder.
    quotes = _QUOTES
    if (
        data.count(b'"') == sum(quotes[cls] * n for cls, n in Counter(map(type, records)).items())
        and len(data.translate(None, _UNSAFE)) == len(data)
        and data.count(b"\n") == len(records) - 1
        and b"inf" not in data
        and b"nan" not in data
    ):
        return data + b"\n"
    return _to_jsonl_exact(records)


def _to_jsonl_exact(records: Iterable[Record]) -> bytes:
    topic_of_type = TOPIC_OF_TYPE
    # One orjson call for the whole batch: per-record calls spend most of
    # their time allocating a fresh output buffer each.
    array = orjson.dumps(
        [
            {"topic": topic_of_type[type(r)], "record": dict(zip(r._fields, r, strict=True))}
            for r in records
        ]
    )
    if array == b"[]":
        return b""
    # Inside a JSON string a quote is always escaped, so this separator can
    # only occur between two array elements.
    return array[1:-1].replace(b'},{"topic":', b'}\n{"topic":') + b"\n"


def from_dict(topic: str, data: dict[str, Any]) -> Record:
    """Rebuild a record from its JSON form (reading recordings and consumed topics).

    Raises:
        ValueError: the topic is unknown or the fields do not match its record type.
    """
    try:
        cls = RECORD_TYPES[topic]
    except KeyError:
        raise ValueError(f"unknown topic {topic!r}; known: {', '.join(TOPICS)}") from None
    if list(data) != list(cls._fields):
        raise ValueError(f"{topic} record has fields {list(data)}, expected {list(cls._fields)}")
    return cls(**data)
