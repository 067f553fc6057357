"""A deterministic DeFi market: blocks, prices, gas, users and flash-loan attacks.

Pure: one seeded ``random.Random`` and the timestamps the caller passes in;
no I/O, no clock, no sleep. The same seed and the same sequence of calls give
the same records, which is what makes a run reproducible from its printed seed.

Ordering guarantees that watermarked stream processors rely on are kept here,
not by the caller: per topic, ``event_timestamp`` and ``block_number`` never go
backwards, also while an attack's five steps interleave with normal traffic.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

from .events import (
    DEX_ROUTER,
    FLASH_LOAN_PROVIDER,
    JOIN_HELPER,
    MEMPOOL,
    PRICES,
    TOKEN_PAIR,
    TRANSACTIONS,
    DexPrice,
    MempoolSample,
    Record,
    Transaction,
)

START_BLOCK = 18_000_000
BASE_PRICE = 2300.0
"""WETH/DAI price that normal trading hovers around."""
BASE_CENTS = 230_000
PRICE_BAND = 5.0
"""Normal fluctuation stays within this many DAI of the base price."""
ATTACK_PRICE = 1850.0
"""Where the attacker's swap pushes the price (about -20%)."""
GAS_LOW, GAS_HIGH = 30, 40
ATTACK_GAS = 250
LOAN_AMOUNT = 50_000_000.0
FLASH_LOAN_PREMIUM = 0.0005
"""Aave's flash-loan premium (0.05%): what the attacker repays on top of the loan."""
REPAY_AMOUNT = round(LOAN_AMOUNT * (1 + FLASH_LOAN_PREMIUM), 2)
ATTACK_STEPS = 5
USER_POOL = 64
"""Ordinary addresses that trade with each other."""

STEP_TEXT = (
    "Attacker takes 50M DAI flash loan.",
    "Attacker swaps DAI for WETH, causing price slippage.",
    "DEX price oracle for WETH/DAI reports anomalous drop.",
    "Mempool shows massive gas spike.",
    "Attacker repays the 50M DAI flash loan plus the 0.05% premium.",
)
"""What each of the five steps means, as the original example prints it."""


@dataclass
class Attack:
    """One flash-loan attack: everything drawn up front, emitted step by step.

    Drawing the attacker, hashes and price when the attack starts keeps the
    RNG sequence independent of how the steps interleave with normal ticks.
    """

    id: int
    attacker: str
    block_number: int
    tx_hashes: tuple[str, str, str]
    """Hashes of the loan, swap and repayment transactions."""
    price: float
    started_ms: int
    """Wall-clock ms of the first step."""
    records: list[Record] = field(default_factory=list)
    """Steps emitted so far, in order."""

    @property
    def done(self) -> bool:
        return len(self.records) == ATTACK_STEPS


class Simulator:
    """The market model. Not thread-safe; one engine drives it.

    Args:
        seed: RNG seed; the same seed and call sequence give the same records.
        users: size of the pool of ordinary addresses.
    """

    def __init__(self, seed: int, users: int = USER_POOL) -> None:
        self.seed = seed
        self._rng = random.Random(seed)
        self.block = START_BLOCK
        self._drift = 0.0
        self.users = [self._address() for _ in range(users)]
        self._last_ms = {TRANSACTIONS: 0, PRICES: 0, MEMPOOL: 0}
        self._open_attacks = 0
        self._attack_ids = itertools.count(1)

    # The same text as f"0x{bits:040x}", at half the cost.
    def _address(self) -> str:
        return "0x" + self._rng.getrandbits(160).to_bytes(20, "big").hex()

    def _hash(self) -> str:
        return "0x" + self._rng.getrandbits(256).to_bytes(32, "big").hex()

    def _stamp(self, topic: str, ts: int) -> int:
        last = self._last_ms[topic]
        if ts < last:
            return last
        self._last_ms[topic] = ts
        return ts

    def _next_block(self) -> int:
        # A block stays open while an attack is in flight: its five records
        # share one block, and normal records in between must not move past it.
        if not self._open_attacks:
            self.block += 1
        return self.block

    def normal_tick(self, ts: int) -> tuple[Transaction, DexPrice, MempoolSample]:
        """One tick of normal traffic: a USDC transfer, a price and a gas sample."""
        return self.normal_ticks(1, ts)[0]

    def normal_ticks(self, n: int, ts: int) -> list[tuple[Transaction, DexPrice, MempoolSample]]:
        """``n`` ticks at one timestamp, each as its three records."""
        flat: list[Record] = []
        self.extend_normal(flat, n, ts)
        it = iter(flat)
        return list(zip(it, it, it, strict=True))  # type: ignore[arg-type]

    def extend_normal(self, out: list[Record], n: int, ts: int) -> None:
        """Append ``n`` ticks (three records each) at one timestamp: the load-mode fast path.

        Records are built with ``tuple.__new__`` and hashes with ``to_bytes``:
        the same values as the NamedTuple constructor and an f-string, without
        their per-call overhead, which at this rate is most of the cost.
        """
        rng = self._rng
        getrandbits = rng.getrandbits
        rand = rng.random
        new = tuple.__new__
        append = out.append
        users = self.users
        n_users = len(users)
        last = self._last_ms
        t_tx = ts if ts > last[TRANSACTIONS] else last[TRANSACTIONS]
        t_px = ts if ts > last[PRICES] else last[PRICES]
        t_gas = ts if ts > last[MEMPOOL] else last[MEMPOOL]
        last[TRANSACTIONS], last[PRICES], last[MEMPOOL] = t_tx, t_px, t_gas
        drift = self._drift
        block = self.block
        hold = self._open_attacks > 0
        for _ in range(n):
            if not hold:
                block += 1
            a = int(rand() * n_users)
            b = (a + 1 + int(rand() * (n_users - 1))) % n_users
            # Mean-reverting walk: a readable chart, never leaving the normal band.
            drift = drift * 0.8 + (rand() - 0.5) * 3.0
            if drift > PRICE_BAND:
                drift = PRICE_BAND
            elif drift < -PRICE_BAND:
                drift = -PRICE_BAND
            # Draw order is part of what a seed reproduces: hash, then amount.
            tx_hash = "0x" + getrandbits(256).to_bytes(32, "big").hex()
            # Whole cents over 100 print as the 2-decimal amount, like
            # round(x, 2) but several times cheaper.
            amount = (5000 + int(rand() * rand() * 995000)) / 100
            append(new(Transaction, (tx_hash, block, t_tx, users[a], users[b], "USDC", amount)))
            price = (BASE_CENTS + int(drift * 100)) / 100
            append(new(DexPrice, (t_px, TOKEN_PAIR, price, JOIN_HELPER)))
            gas = GAS_LOW + int(rand() * (GAS_HIGH - GAS_LOW + 1))
            append(new(MempoolSample, (t_gas, block, gas)))
        self._drift = drift
        self.block = block

    def start_attack(self, ts: int) -> Attack:
        """Open a new attack with a fresh attacker in a new block.

        Until :meth:`finish_attack`, normal ticks stay in this block so the
        attack's records never arrive after a higher block number.
        """
        block = self._next_block()
        self._open_attacks += 1
        attacker = self._address()
        hashes = (self._hash(), self._hash(), self._hash())
        price = round(ATTACK_PRICE + (self._rng.random() - 0.5) * 10.0, 2)
        return Attack(next(self._attack_ids), attacker, block, hashes, price, ts)

    def attack_step(self, attack: Attack, ts: int) -> Record:
        """Emit the attack's next step (1 to 5) at ``ts``."""
        step = len(attack.records) + 1
        block = attack.block_number
        record: Record
        if step == 1:
            record = Transaction(
                attack.tx_hashes[0],
                block,
                self._stamp(TRANSACTIONS, ts),
                FLASH_LOAN_PROVIDER,
                attack.attacker,
                "DAI",
                LOAN_AMOUNT,
            )
        elif step == 2:
            record = Transaction(
                attack.tx_hashes[1],
                block,
                self._stamp(TRANSACTIONS, ts),
                attack.attacker,
                DEX_ROUTER,
                "DAI",
                LOAN_AMOUNT,
            )
        elif step == 3:
            record = DexPrice(self._stamp(PRICES, ts), TOKEN_PAIR, attack.price, JOIN_HELPER)
        elif step == 4:
            record = MempoolSample(self._stamp(MEMPOOL, ts), block, ATTACK_GAS)
        elif step == 5:
            record = Transaction(
                attack.tx_hashes[2],
                block,
                self._stamp(TRANSACTIONS, ts),
                attack.attacker,
                FLASH_LOAN_PROVIDER,
                "DAI",
                REPAY_AMOUNT,
            )
        else:
            raise ValueError(f"attack {attack.id} already emitted its {ATTACK_STEPS} steps")
        attack.records.append(record)
        if step == ATTACK_STEPS:
            self._open_attacks -= 1
        return record

    def whole_attack(self, ts: int) -> Attack:
        """An attack with all five steps at once (load mode, no step delay)."""
        attack = self.start_attack(ts)
        for _ in range(ATTACK_STEPS):
            self.attack_step(attack, ts)
        return attack
