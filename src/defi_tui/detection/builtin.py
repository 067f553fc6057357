"""Reference detectors: the original example's three queries as streaming logic.

They read every record the engine produces (``RecordsProduced`` batches, in
order) and report what a correct detector reports:

- **flash loan** (``flash_loan``): a transfer of more than 1,000,000 from X to
  A, then a transfer from A back to X whose ``event_timestamp`` is from 0 to
  60,000 ms later (both ends included, as ``BETWEEN`` does);
- **price anomaly** (``price_anomaly``): a price that moved more than 10%
  against the previous price of the same pair (exactly 10% does not);
- **gas spike** (``gas_spike``): a sample above 100 gwei, reported with the
  moving average of the last 10 samples (the spike included).

The engine produces several hundred thousand records a second in load mode,
so a batch is read in one loop that does little per record: the pair
detector only ever sees transfers above the threshold and transfers to an
address that lent such an amount; prices are compared with one subtraction
and one multiplication, and only a candidate is checked exactly.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from ..engine import EngineEvent, RecordsProduced
from ..events import DexPrice, Record, Transaction
from .base import Detection, DetectionSource, SourceContext, SourceState

LOAN_THRESHOLD = 1_000_000
"""A loan is a transfer of more than this."""
REPAY_WINDOW_MS = 60_000
"""A repayment counts from 0 to this many ms after the loan."""
PRICE_CHANGE = Decimal(10)
"""Percent change (exclusive) that makes a price anomalous."""
GAS_THRESHOLD = 100
"""Gwei (exclusive) that makes a sample a spike."""
GAS_WINDOW = 10
"""Samples in the gas moving average."""
_NAN = float("nan")
MAX_OPEN_LOANS = 100_000
"""Loans waiting for a repayment; beyond this the oldest are forgotten."""

FLASH_LOAN, PRICE_ANOMALY, GAS_SPIKE = "flash_loan", "price_anomaly", "gas_spike"
DETECTORS = (FLASH_LOAN, PRICE_ANOMALY, GAS_SPIKE)


def moved_more_than_10_percent(previous: float, price: float) -> bool:
    """Whether ``price`` differs from ``previous`` by more than 10%, judged on the decimals."""
    if previous == 0:
        return False
    a, b = Decimal(repr(previous)), Decimal(repr(price))
    return abs(b - a) * 100 > PRICE_CHANGE * abs(a)


class BuiltinDetectors:
    """The three detectors' state; :meth:`process` takes records in order, returns alerts.

    Args:
        source: the label put on each detection.
        wall_ms: the clock stamping ``received_ms``.
    """

    def __init__(self, wall_ms: Any, source: str = "builtin") -> None:
        self.source = source
        self._wall_ms = wall_ms
        self._loans: dict[tuple[str, str], list[Transaction]] = {}
        """Open loans by (borrower, lender)."""
        self._lenders: dict[str, int] = {}
        """Lenders with open loans, and how many."""
        self._loan_order: deque[Transaction] = deque()
        self._pair = ""
        self._price = _NAN
        self._prices: dict[str, float] = {}
        self._gas: deque[int] = deque(maxlen=GAS_WINDOW)
        self._block: int | None = None
        self.forgotten_loans = 0
        """Loans dropped unrepaid because more than :data:`MAX_OPEN_LOANS` were open."""

    def process(self, records: Sequence[Record]) -> list[Detection]:
        """Read a batch of records (in production order); the alerts they raise."""
        out: list[Detection] = []
        lenders = self._lenders
        gas = self._gas
        gas_append = gas.append
        loan_threshold, gas_threshold = LOAN_THRESHOLD, GAS_THRESHOLD
        pair, price, block = self._pair, self._price, self._block
        tx_type, price_type = Transaction, DexPrice
        rs: Sequence[Any] = records  # indexed by position: cheaper than attribute names
        for r in rs:
            cls = type(r)
            if cls is tx_type:
                # Only the block of transfers is tracked: a price alert takes the
                # block of the transfer before it (the swap, for an attack's price).
                block = r[1]
                # Repayment first: a transfer to an address with open loans.
                if r[4] in lenders:
                    self._repayment(r, out)
                if r[6] > loan_threshold:
                    self._open_loan(r)
            elif cls is price_type:
                p: float = r[2]
                if r[1] != pair:
                    self._prices[pair] = price
                    pair = r[1]
                    price = self._prices.get(pair, _NAN)
                # A loose float test (|change| > ~10%, squared to skip abs());
                # only a candidate is judged exactly. NaN (no previous) never passes.
                d = p - price
                if d * d * 100.0 > price * price * 0.999998:
                    if moved_more_than_10_percent(price, p):
                        out.append(self._price_alert(r, price, block))
                price = p
            else:
                gas_append(r[2])
                if r[2] > gas_threshold:
                    out.append(self._gas_alert(r, sum(gas) / len(gas)))
        self._pair, self._price, self._block = pair, price, block
        if self._loan_order:
            for r in reversed(rs):
                # Timestamps never go back within a topic: the last transfer is the latest.
                if type(r) is tx_type:
                    self._expire(r[2] - REPAY_WINDOW_MS)
                    break
        return out

    # --- flash loan pair

    def _open_loan(self, tx: Transaction) -> None:
        key = (tx.to_address, tx.from_address)
        self._loans.setdefault(key, []).append(tx)
        self._lenders[tx.from_address] = self._lenders.get(tx.from_address, 0) + 1
        self._loan_order.append(tx)
        if len(self._loan_order) > MAX_OPEN_LOANS:
            self._forget(self._loan_order.popleft())
            self.forgotten_loans += 1

    def _forget(self, loan: Transaction) -> None:
        key = (loan.to_address, loan.from_address)
        open_loans = self._loans.get(key)
        if open_loans is not None:
            open_loans.remove(loan)
            if not open_loans:
                del self._loans[key]
        n = self._lenders.get(loan.from_address, 0) - 1
        if n > 0:
            self._lenders[loan.from_address] = n
        else:
            self._lenders.pop(loan.from_address, None)

    def _expire(self, before_ms: int) -> None:
        order = self._loan_order
        while order and order[0].event_timestamp < before_ms:
            self._forget(order.popleft())

    def _repayment(self, tx: Transaction, out: list[Detection]) -> None:
        open_loans = self._loans.get((tx.from_address, tx.to_address))
        if not open_loans:
            return
        for loan in open_loans:
            if 0 <= tx.event_timestamp - loan.event_timestamp <= REPAY_WINDOW_MS:
                fields = {
                    "loan_hash": loan.tx_hash,
                    "repay_hash": tx.tx_hash,
                    "loan_provider": loan.from_address,
                    "attacker": loan.to_address,
                    "loan_amount": loan.tx_amount,
                    "repay_amount": tx.tx_amount,
                    "block_number": loan.block_number,
                    "event_timestamp": tx.event_timestamp,
                }
                out.append(
                    Detection(self.source, FLASH_LOAN, fields, self._wall_ms(), tx.event_timestamp)
                )

    # --- price and gas

    def _price_alert(self, r: DexPrice, previous: float, block: int | None) -> Detection:
        pct = (r.price - previous) / previous * 100
        fields: dict[str, Any] = {
            "token_pair": r.token_pair,
            "event_timestamp": r.event_timestamp,
            "prev_price": previous,
            "price": r.price,
            "pct_change": round(pct, 4),
        }
        if block is not None:
            # A price has no block; the one current when it was seen tells
            # which attack moved it when several share a millisecond.
            fields["block_number"] = block
        return Detection(self.source, PRICE_ANOMALY, fields, self._wall_ms(), r.event_timestamp)

    def _gas_alert(self, r: Any, moving_avg: float) -> Detection:
        fields = {
            "block_number": r.block_number,
            "event_timestamp": r.event_timestamp,
            "avg_gas_price_gwei": r.avg_gas_price_gwei,
            "moving_avg_gwei": round(moving_avg, 2),
        }
        return Detection(self.source, GAS_SPIKE, fields, self._wall_ms(), r.event_timestamp)


class BuiltinSource(DetectionSource):
    """The reference detectors as a detection source, fed by the engine's batches."""

    kind = "builtin"

    async def start(self, ctx: SourceContext) -> None:
        detectors = BuiltinDetectors(ctx.wall_ms, self.label)
        self.detectors = detectors
        emit = ctx.emit
        status = self._status
        produced = RecordsProduced

        def on_event(event: EngineEvent) -> None:
            if type(event) is produced:
                found = detectors.process(event.records)
                if found:
                    status.received += len(found)
                    emit(found)

        ctx.engine.add_listener(on_event)
        status.state = SourceState.READING

    async def stop(self) -> None:
        self._status.state = SourceState.STOPPED
