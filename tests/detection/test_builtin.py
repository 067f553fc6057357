"""The builtin detectors on crafted streams: each seed query and its edge cases."""

from __future__ import annotations

import pytest

from defi_tui.detection.builtin import (
    FLASH_LOAN,
    GAS_SPIKE,
    PRICE_ANOMALY,
    BuiltinDetectors,
    moved_more_than_10_percent,
)
from defi_tui.events import (
    FLASH_LOAN_PROVIDER,
    DexPrice,
    MempoolSample,
    Record,
    Transaction,
)
from defi_tui.simulator import Simulator

T0 = 1_767_225_600_000
LENDER = FLASH_LOAN_PROVIDER
BORROWER = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20


def tx(n: int, ts: int, sender: str, receiver: str, amount: float, block: int = 100) -> Transaction:
    return Transaction(f"0x{n:064x}", block, ts, sender, receiver, "DAI", amount)


def price(ts: int, value: float) -> DexPrice:
    return DexPrice(ts, "WETH/DAI", value, "A")


def gas(ts: int, gwei: int, block: int = 100) -> MempoolSample:
    return MempoolSample(ts, block, gwei)


def run(records: list[Record], batch: int | None = None) -> list:
    detectors = BuiltinDetectors(lambda: 0)
    out = []
    step = batch or len(records) or 1
    for i in range(0, len(records), step):
        out.extend(detectors.process(records[i : i + step]))
    return out


# --- flash loan pair


@pytest.mark.parametrize("batch", [None, 1])
def test_loan_repaid_within_60_s_is_one_alert(batch: int | None) -> None:
    loan = tx(1, T0, LENDER, BORROWER, 50_000_000)
    repay = tx(2, T0 + 4_000, BORROWER, LENDER, 50_025_000)
    (alert,) = run([loan, tx(3, T0 + 1, OTHER, BORROWER, 5), repay], batch)
    assert alert.detector == FLASH_LOAN
    assert alert.fields == {
        "loan_hash": loan.tx_hash,
        "repay_hash": repay.tx_hash,
        "loan_provider": LENDER,
        "attacker": BORROWER,
        "loan_amount": 50_000_000,
        "repay_amount": 50_025_000,
        "block_number": 100,
        "event_timestamp": T0 + 4_000,
    }
    assert alert.event_ms == T0 + 4_000


def test_repayment_exactly_60_s_later_matches() -> None:
    found = run([tx(1, T0, LENDER, BORROWER, 2_000_000), tx(2, T0 + 60_000, BORROWER, LENDER, 1)])
    assert [a.detector for a in found] == [FLASH_LOAN]


def test_repayment_61_s_later_does_not_match() -> None:
    assert (
        run(
            [
                tx(1, T0, LENDER, BORROWER, 2_000_000),
                tx(2, T0 + 61_000, BORROWER, LENDER, 2_000_000),
            ]
        )
        == []
    )


def test_repayment_before_the_loan_does_not_match() -> None:
    assert run([tx(2, T0, BORROWER, LENDER, 5), tx(1, T0 + 1, LENDER, BORROWER, 2_000_000)]) == []


def test_loan_of_exactly_one_million_is_no_loan() -> None:
    assert (
        run([tx(1, T0, LENDER, BORROWER, 1_000_000), tx(2, T0 + 1, BORROWER, LENDER, 1_000_000)])
        == []
    )
    assert (
        len(run([tx(1, T0, LENDER, BORROWER, 1_000_000.01), tx(2, T0 + 1, BORROWER, LENDER, 5)]))
        == 1
    )


def test_repayment_must_go_back_to_the_lender() -> None:
    assert (
        run([tx(1, T0, LENDER, BORROWER, 5_000_000), tx(2, T0 + 1, BORROWER, OTHER, 5_000_000)])
        == []
    )


def test_expired_loans_are_forgotten_across_batches() -> None:
    detectors = BuiltinDetectors(lambda: 0)
    detectors.process([tx(1, T0, LENDER, BORROWER, 5_000_000)])
    detectors.process([tx(3, T0 + 60_001, OTHER, OTHER, 1)])
    assert detectors._loans == {} and detectors._lenders == {}
    assert detectors.process([tx(2, T0 + 60_002, BORROWER, LENDER, 5)]) == []


# --- price anomaly


def test_drop_of_more_than_10_percent_is_an_anomaly() -> None:
    (alert,) = run([price(T0, 2300.0), price(T0 + 1, 2069.99)])
    assert alert.detector == PRICE_ANOMALY
    assert alert.fields["prev_price"] == 2300.0 and alert.fields["price"] == 2069.99
    assert alert.fields["pct_change"] == pytest.approx(-10.0004, abs=1e-4)


@pytest.mark.parametrize(
    ("before", "after"), [(2300.0, 2070.0), (2000.0, 1800.0), (2000.0, 2200.0), (1850.1, 2035.11)]
)
def test_a_move_of_exactly_10_percent_is_not(before: float, after: float) -> None:
    assert not moved_more_than_10_percent(before, after)
    assert run([price(T0, before), price(T0 + 1, after)]) == []


def test_first_price_has_nothing_to_compare_and_pairs_are_apart() -> None:
    assert run([price(T0, 1.0)]) == []
    found = run(
        [
            price(T0, 2300.0),
            DexPrice(T0 + 1, "WBTC/DAI", 60_000.0, "A"),
            price(T0 + 2, 2301.0),
            DexPrice(T0 + 3, "WBTC/DAI", 40_000.0, "A"),
        ]
    )
    assert [a.fields["token_pair"] for a in found] == ["WBTC/DAI"]


def test_attack_drop_and_rebound_are_both_reported() -> None:
    found = run([price(T0, 2300.0), price(T0 + 1, 1850.0), price(T0 + 2, 2301.0)])
    assert [round(a.fields["pct_change"]) for a in found] == [-20, 24]


# --- gas spike


def test_gas_above_100_is_a_spike_with_the_moving_average_of_10() -> None:
    samples = [gas(T0 + i, 30 + i) for i in range(12)] + [gas(T0 + 12, 250, block=7)]
    (alert,) = run(samples)
    assert alert.detector == GAS_SPIKE
    last_ten = [33 + i for i in range(9)] + [250]
    assert alert.fields == {
        "block_number": 7,
        "event_timestamp": T0 + 12,
        "avg_gas_price_gwei": 250,
        "moving_avg_gwei": round(sum(last_ten) / 10, 2),
    }


def test_exactly_100_gwei_is_no_spike() -> None:
    assert run([gas(T0, 100)]) == []
    assert len(run([gas(T0, 101)])) == 1


def test_moving_average_over_fewer_samples_at_start() -> None:
    (alert,) = run([gas(T0, 40), gas(T0 + 1, 160)])
    assert alert.fields["moving_avg_gwei"] == 100.0


# --- the simulator's stream


def test_every_simulated_attack_raises_each_detector_and_nothing_else_does() -> None:
    sim = Simulator(21)
    records: list[Record] = []
    attacks = []
    for i in range(40):
        for tick in sim.normal_ticks(50, T0 + i * 1000):
            records.extend(tick)
        attacks.append(sim.whole_attack(T0 + i * 1000 + 500))
        records.extend(attacks[-1].records)
    for tick in sim.normal_ticks(5, T0 + 50_000):
        records.extend(tick)
    found = run(records, batch=4096)
    loans = [a for a in found if a.detector == FLASH_LOAN]
    spikes = [a for a in found if a.detector == GAS_SPIKE]
    prices = [a for a in found if a.detector == PRICE_ANOMALY]
    assert [a.fields["attacker"] for a in loans] == [a.attacker for a in attacks]
    assert [a.fields["block_number"] for a in spikes] == [a.block_number for a in attacks]
    # Each attack's drop, and the rebound at the next normal price.
    assert len(prices) == 2 * len(attacks)
    assert [a.fields["block_number"] for a in prices[::2]] == [a.block_number for a in attacks]
