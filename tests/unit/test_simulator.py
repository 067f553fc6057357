"""The market model: schemas, the attack's structure, ordering and determinism."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from defi_tui.events import (
    DEX_ROUTER,
    FLASH_LOAN_PROVIDER,
    MEMPOOL,
    PRICES,
    TRANSACTIONS,
    DexPrice,
    MempoolSample,
    Record,
    Transaction,
    topic_of,
)
from defi_tui.simulator import START_BLOCK, Attack, Simulator

ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")
HASH = re.compile(r"^0x[0-9a-f]{64}$")


def test_normal_tick_shape() -> None:
    sim = Simulator(42)
    for i in range(500):
        tx, price, gas = sim.normal_tick(1000 + i)
        assert tx.block_number == gas.block_number == START_BLOCK + 1 + i
        assert HASH.match(tx.tx_hash) and len(tx.tx_hash) == 66
        assert ADDRESS.match(tx.from_address) and ADDRESS.match(tx.to_address)
        assert tx.from_address != tx.to_address
        assert tx.from_address in sim.users and tx.to_address in sim.users
        assert tx.tx_token == "USDC" and tx.tx_amount > 0
        assert 2295 <= price.price <= 2305
        assert price.token_pair == "WETH/DAI" and price.join_helper == "A"
        assert 30 <= gas.avg_gas_price_gwei <= 40


def test_attack_is_five_correlated_records_in_one_block() -> None:
    sim = Simulator(7)
    sim.normal_tick(1)
    attack = sim.whole_attack(2)
    loan, swap, price, gas, repay = attack.records
    assert {r.block_number for r in (loan, swap, gas, repay)} == {attack.block_number}
    assert (loan.from_address, loan.to_address) == (FLASH_LOAN_PROVIDER, attack.attacker)
    assert (swap.from_address, swap.to_address) == (attack.attacker, DEX_ROUTER)
    assert (repay.from_address, repay.to_address) == (attack.attacker, FLASH_LOAN_PROVIDER)
    assert loan.tx_amount == swap.tx_amount == 50_000_000
    assert repay.tx_amount == 50_025_000
    assert {loan.tx_token, swap.tx_token, repay.tx_token} == {"DAI"}
    assert isinstance(price, DexPrice) and 1840 <= price.price <= 1860
    assert price.join_helper == "A"
    assert isinstance(gas, MempoolSample) and gas.avg_gas_price_gwei == 250
    assert ADDRESS.match(attack.attacker) and len(attack.attacker) == 42
    assert len({loan.tx_hash, swap.tx_hash, repay.tx_hash}) == 3


def test_each_attack_has_a_fresh_attacker() -> None:
    sim = Simulator(3)
    attackers = {sim.whole_attack(i).attacker for i in range(200)}
    assert len(attackers) == 200


# An operation script: 0 = normal tick, 1 = start an attack, 2 = next step of
# the oldest open attack; timestamps move by a random (possibly negative) jitter.
ops = st.lists(st.tuples(st.sampled_from([0, 1, 2, 2]), st.integers(-50, 200)), max_size=120)


def run_script(seed: int, script: list[tuple[int, int]]) -> tuple[list[Record], list[Attack]]:
    sim = Simulator(seed)
    out: list[Record] = []
    open_attacks: list[Attack] = []
    attacks: list[Attack] = []
    ts = 1_000_000
    for op, jitter in script:
        ts += jitter  # a wall clock may step back; records must not
        if op == 0:
            out.extend(sim.normal_tick(ts))
        elif op == 1:
            a = sim.start_attack(ts)
            open_attacks.append(a)
            attacks.append(a)
        elif open_attacks:
            out.append(sim.attack_step(open_attacks[0], ts))
            if open_attacks[0].done:
                open_attacks.pop(0)
    return out, attacks


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32), script=ops)
def test_per_topic_time_and_blocks_never_go_backwards(seed: int, script: list[tuple[int, int]]):
    records, _ = run_script(seed, script)
    last: dict[str, tuple[int, int]] = {TRANSACTIONS: (0, 0), PRICES: (0, 0), MEMPOOL: (0, 0)}
    for r in records:
        topic = topic_of(r)
        block = getattr(r, "block_number", 0)
        prev_ts, prev_block = last[topic]
        assert r.event_timestamp >= prev_ts
        assert block >= prev_block
        last[topic] = (r.event_timestamp, block or prev_block)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32), script=ops)
def test_same_seed_same_records(seed: int, script: list[tuple[int, int]]) -> None:
    assert run_script(seed, script) == run_script(seed, script)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32), script=ops)
def test_attack_records_share_their_block(seed: int, script: list[tuple[int, int]]) -> None:
    _, attacks = run_script(seed, script)
    for a in attacks:
        blocks = {r.block_number for r in a.records if isinstance(r, Transaction | MempoolSample)}
        assert blocks <= {a.block_number}


def test_different_seeds_differ() -> None:
    assert Simulator(1).normal_tick(0) != Simulator(2).normal_tick(0)


def test_batch_and_single_ticks_agree() -> None:
    a, b = Simulator(9), Simulator(9)
    assert a.normal_ticks(50, 7) == [b.normal_tick(7) for _ in range(50)]
