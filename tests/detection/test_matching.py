"""The matching rule: which attack a detection is about, or none (a false positive)."""

from __future__ import annotations

import datetime as dt

import pytest

from defi_tui.detection.matching import match
from defi_tui.ground_truth import AttackLedger
from defi_tui.simulator import Attack, Simulator

T0 = 1_767_225_600_000


def ledger_with(attacks_at: list[int], seed: int = 3) -> tuple[AttackLedger, list[Attack]]:
    """Whole attacks at these event times (ms), with normal ticks between them."""
    sim = Simulator(seed)
    ledger = AttackLedger(lambda: 0)
    attacks = []
    for ts in attacks_at:
        sim.normal_ticks(3, ts)
        attack = sim.whole_attack(ts)
        for record in attack.records:
            ledger.record_step(attack, record)
        attacks.append(attack)
    return ledger, attacks


@pytest.fixture
def two() -> tuple[AttackLedger, list[Attack]]:
    return ledger_with([T0, T0 + 120_000])


def test_attacker_address_matches_in_any_case(two: tuple[AttackLedger, list[Attack]]) -> None:
    ledger, (a, b) = two
    found = match({"attacker": b.attacker.upper().replace("0X", "0x")}, ledger)
    assert found is not None and found.truth.id == b.id and found.rule == "attacker"


@pytest.mark.parametrize("which", [0, 1, 2])
def test_each_tx_hash_matches(two: tuple[AttackLedger, list[Attack]], which: int) -> None:
    ledger, (a, _) = two
    found = match({"note": "suspicious", "hash": a.tx_hashes[which]}, ledger)
    assert found is not None and found.truth.id == a.id and found.rule == "tx_hash"


def test_nested_values_are_searched(two: tuple[AttackLedger, list[Attack]]) -> None:
    ledger, (a, _) = two
    found = match({"alert": {"txs": [a.tx_hashes[2]]}}, ledger)
    assert found is not None and found.truth.id == a.id


def test_naming_other_addresses_is_a_false_positive_whatever_the_time(
    two: tuple[AttackLedger, list[Attack]],
) -> None:
    ledger, (a, _) = two
    assert (
        match(
            {
                "from_address": "0x" + "1" * 40,
                "event_timestamp": T0,
                "block_number": a.block_number,
            },
            ledger,
        )
        is None
    )


def test_block_number_matches_a_price_or_gas_alert(two: tuple[AttackLedger, list[Attack]]) -> None:
    ledger, (_, b) = two
    found = match({"block_number": b.block_number, "avg_gas_price_gwei": 250}, ledger)
    assert found is not None and found.truth.id == b.id and found.rule == "block"
    found = match({"last_block": b.block_number, "peak_gwei": 250}, ledger)
    assert found is not None and found.truth.id == b.id


def test_time_in_the_window_matches(two: tuple[AttackLedger, list[Attack]]) -> None:
    ledger, (a, b) = two
    for ts in (T0, T0 + 9_999, T0 + 10_000):
        found = match({"token_pair": "WETH/DAI", "event_timestamp": ts, "pct_change": -20}, ledger)
        assert found is not None and found.truth.id == a.id and found.rule == "time", ts
    assert match({"event_timestamp": T0 + 10_001}, ledger) is None
    assert match({"event_timestamp": T0 - 1}, ledger) is None
    found = match({"event_timestamp": T0 + 120_000}, ledger)
    assert found is not None and found.truth.id == b.id


def test_time_as_seconds_datetime_or_iso_text(two: tuple[AttackLedger, list[Attack]]) -> None:
    ledger, (_, b) = two
    at = T0 + 120_000
    for value in (
        at / 1000,
        dt.datetime.fromtimestamp(at / 1000, dt.UTC),
        dt.datetime.fromtimestamp(at / 1000, dt.UTC).isoformat().replace("+00:00", "Z"),
    ):
        found = match({"window_end": value}, ledger)
        assert found is not None and found.truth.id == b.id, value


def test_a_window_overlapping_the_attack_matches(two: tuple[AttackLedger, list[Attack]]) -> None:
    ledger, (a, _) = two
    found = match({"window_start": T0 - 55_000, "window_end": T0 + 5_000, "peak_gwei": 250}, ledger)
    assert found is not None and found.truth.id == a.id


def test_slack_is_configurable(two: tuple[AttackLedger, list[Attack]]) -> None:
    ledger, (a, _) = two
    assert match({"event_timestamp": T0 + 20_000}, ledger, slack_ms=30_000) is not None
    assert match({"event_timestamp": T0 + 20_000}, ledger) is None


def test_nothing_to_go_by_matches_nothing(two: tuple[AttackLedger, list[Attack]]) -> None:
    ledger, _ = two
    assert match({}, ledger) is None
    assert match({"price": 1850.0, "pct_change": -20.0}, ledger) is None


def test_shared_millisecond_goes_to_the_latest_attack_not_above_the_block() -> None:
    ledger, attacks = ledger_with([T0, T0, T0])
    found = match({"event_timestamp": T0}, ledger)
    assert found is not None and found.truth.id == attacks[-1].id
    # A rebound seen in the block after the first attack's.
    found = match({"event_timestamp": T0, "block_number": attacks[0].block_number + 1}, ledger)
    assert found is not None and found.truth.id == attacks[0].id
