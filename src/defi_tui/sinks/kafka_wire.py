"""How records become Kafka messages, and how they travel to the producer process.

Values are the JSON of DESIGN.md, byte for byte; each record's
``event_timestamp`` is its Kafka timestamp; keys put the records a detection
query joins in one partition:

- ``onchain_transactions``: the account on the user side of the transfer
  (the sender, or the receiver when the sender is the flash-loan pool or the
  DEX router). A loan (provider → attacker), the swap and the repayment
  (attacker → provider) all carry the attacker's address, so the flash-loan
  pair join finds both sides in one partition, in order;
- ``dex_prices``: ``token_pair``, the partition of the price-drop query
  (``LAG(price) OVER (PARTITION BY token_pair ...)``);
- ``mempool_data``: ``block_number``, the column gas samples are joined on.

The sink encodes; its producer process (:mod:`.kafka_producer`) produces.
They talk over one socket in frames: a kind byte, the length of a pickle,
how many out-of-band buffers follow and their lengths, the pickle, the
buffers. A batch is one frame: per topic, every value concatenated into one
buffer with their end offsets, the keys and the timestamps. The value
buffers go out of band (pickle protocol 5), so they reach the socket without
another copy; concatenating as they are encoded keeps thousands of small
buffers from being alive at once, which costs more than the encoding.
"""

from __future__ import annotations

import pickle
import struct
from array import array
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import orjson

from ..events import (
    DEX_ROUTER,
    FLASH_LOAN_PROVIDER,
    RECORD_TYPES,
    DexPrice,
    MempoolSample,
    Record,
    Transaction,
)

# Frame kinds. Sink → producer process:
CONFIG = b"C"
"""The client properties and topic names; the first frame, answered by READY or REFUSED."""
BATCH = b"B"
"""Records to produce (see :func:`encode_batch`)."""
SYNC = b"S"
"""Answer SYNCED with the token once every earlier frame is handled and reported."""
STOP = b"Q"
"""Report once more and exit; what is still queued is left to the sink to count."""
# Producer process → sink:
READY = b"R"
REFUSED = b"X"
"""The client refused its configuration; the body is librdkafka's message."""
REPORT = b"P"
"""What happened since the last report (see :class:`Report`)."""
SYNCED = b"Y"

_HEAD = struct.Struct("<cIB")
_LENGTH = struct.Struct("<I")
HEAD_SIZE = _HEAD.size
LENGTH_SIZE = _LENGTH.size


class ClientError(NamedTuple):
    """A librdkafka error reported outside any one message (``error_cb``)."""

    code: int
    text: str
    fatal: bool


class Report(NamedTuple):
    """What the producer process learnt since its last report. Topics by index in ``TOPICS``."""

    delivered: tuple[int, int, int]
    dropped: tuple[int, int, int]
    failed: tuple[tuple[int, str, int], ...] = ()
    """``(topic, error, count)`` of records the cluster or the client refused."""
    errors: tuple[ClientError, ...] = ()
    logs: tuple[tuple[int, str], ...] = ()
    """``(logging level, line)`` from librdkafka's log."""
    stalled: bool = False
    """The queue was full and nothing was confirmed for the stall time: overflow is dropped."""


class Block(NamedTuple):
    """One topic's share of a batch."""

    values: bytes | pickle.PickleBuffer
    """The values one after another: a buffer on the sink's side, bytes once received."""
    ends: array[int]
    """End offset of each value in ``values``."""
    keys: list[str]
    timestamps: array[int]


class Batch(NamedTuple):
    blocks: tuple[Block | None, Block | None, Block | None]
    """Per topic (``TOPICS`` order); None when the batch has none of it."""
    drop_when_full: bool
    """Drop the overflow at once instead of waiting for room (the cluster is not reachable)."""


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


# --- batches


def encode_batch(records: Sequence[Record], drop_when_full: bool) -> tuple[Batch, list[int]]:
    """The batch frame's body for ``records``, and how many records it holds per topic.

    Order is kept within each topic, which is all Kafka keeps anyway.
    """
    txs: list[Any] = []
    prices: list[Any] = []
    gas: list[Any] = []
    add_tx, add_price, add_gas = txs.append, prices.append, gas.append
    tx, px = Transaction, DexPrice
    for r in records:
        cls = type(r)
        if cls is tx:
            add_tx(r)
        elif cls is px:
            add_price(r)
        else:
            add_gas(r)
    contracts = CONTRACTS
    # Records are indexed, not read by name: it is the hottest loop of a load run.
    blocks = (
        _block(txs, _BUILDERS[Transaction], [r[4] if r[3] in contracts else r[3] for r in txs], 2),
        _block(prices, _BUILDERS[DexPrice], [r[1] for r in prices], 0),
        _block(gas, _BUILDERS[MempoolSample], [str(r[1]) for r in gas], 0),
    )
    return Batch(blocks, drop_when_full), [len(txs), len(prices), len(gas)]


def _block(
    records: list[Any], to_dict: Callable[[Any], dict[str, Any]], keys: list[str], ts_field: int
) -> Block | None:
    if not records:
        return None
    dumps = orjson.dumps
    values = bytearray()
    ends = array("I")
    end = ends.append
    for r in records:
        values += dumps(to_dict(r))
        end(len(values))
    # A PickleBuffer travels out of band and arrives as the bytes it was read
    # into: read-only, as the client wants its values, without a copy.
    stamps = array("q", [r[ts_field] for r in records])
    return Block(pickle.PickleBuffer(values), ends, keys, stamps)


# --- frames


def frame(kind: bytes, body: Any = None) -> list[bytes | memoryview]:
    """The pieces of one frame, to be written in order."""
    buffers: list[pickle.PickleBuffer] = []
    data = pickle.dumps(body, protocol=5, buffer_callback=buffers.append)
    views = [b.raw() for b in buffers]
    head = _HEAD.pack(kind, len(data), len(views)) + b"".join(_LENGTH.pack(v.nbytes) for v in views)
    return [head + data, *views]


def parse_head(head: bytes) -> tuple[bytes, int, int]:
    """``(kind, pickle length, number of buffers)`` from a frame's first :data:`HEAD_SIZE` bytes."""
    kind, length, n = _HEAD.unpack(head)
    return kind, length, n


def parse_lengths(data: bytes) -> list[int]:
    """The buffer lengths that follow a frame's head (:data:`LENGTH_SIZE` bytes each)."""
    return [length for (length,) in _LENGTH.iter_unpack(data)]


def decode(data: bytes, buffers: list[bytes]) -> Any:
    return pickle.loads(data, buffers=buffers)


def read_frame(read: Callable[[int], bytes]) -> tuple[bytes, Any]:
    """The next frame from a blocking ``read(n)`` that returns n bytes, fewer only at the end.

    Raises:
        EOFError: the other side closed its end.
    """

    def exactly(n: int) -> bytes:
        data = read(n) if n else b""
        if len(data) < n:
            raise EOFError
        return data

    kind, length, n = parse_head(exactly(HEAD_SIZE))
    lengths = parse_lengths(exactly(n * LENGTH_SIZE))
    data = exactly(length)
    return kind, decode(data, [exactly(size) for size in lengths])
