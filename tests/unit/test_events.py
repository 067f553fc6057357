"""The wire contract: field names, order, JSON types, and the JSONL form."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from defi_tui.events import (
    PRICES,
    DexPrice,
    MempoolSample,
    Transaction,
    from_dict,
    to_dict,
    to_json,
    to_jsonl,
)
from defi_tui.simulator import Simulator


def test_field_names_and_order_are_the_contract() -> None:
    assert Transaction._fields == (
        "tx_hash",
        "block_number",
        "event_timestamp",
        "from_address",
        "to_address",
        "tx_token",
        "tx_amount",
    )
    assert DexPrice._fields == ("event_timestamp", "token_pair", "price", "join_helper")
    assert MempoolSample._fields == ("event_timestamp", "block_number", "avg_gas_price_gwei")


def test_json_types() -> None:
    sim = Simulator(1)
    tx, price, gas = sim.normal_tick(1_767_225_600_000)
    t = json.loads(to_json(tx))
    assert list(t) == list(Transaction._fields)
    assert [type(t[k]) for k in t] == [str, int, int, str, str, str, float]
    p = json.loads(to_json(price))
    assert [type(p[k]) for k in p] == [int, str, float, str] and p["join_helper"] == "A"
    g = json.loads(to_json(gas))
    assert [type(g[k]) for k in g] == [int, int, int]


def test_jsonl_lines_wrap_each_record_with_its_topic() -> None:
    sim = Simulator(2)
    records = [r for tick in sim.normal_ticks(3, 5) for r in tick] + sim.whole_attack(6).records
    lines = to_jsonl(records).decode().splitlines()
    assert len(lines) == len(records)
    for line, record in zip(lines, records, strict=True):
        obj = json.loads(line)
        assert list(obj) == ["topic", "record"]
        assert from_dict(obj["topic"], obj["record"]) == record
        assert obj["record"] == to_dict(record)


text = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)


@given(token=text, pair=text, helper=text, amount=st.floats(allow_nan=False, allow_infinity=False))
def test_jsonl_is_valid_json_whatever_the_strings_hold(
    token: str, pair: str, helper: str, amount: float
) -> None:
    # Quotes, backslashes, control characters and non-ASCII must all survive.
    records = [
        Transaction("0x1", 1, 2, "0xa", "0xb", token, amount),
        DexPrice(3, pair, 1.5, helper),
    ]
    lines = to_jsonl(records).split(b"\n")
    assert lines[-1] == b""
    decoded = [json.loads(line) for line in lines[:-1]]
    assert decoded[0]["record"]["tx_token"] == token
    assert decoded[0]["record"]["tx_amount"] == amount
    assert decoded[1]["record"]["token_pair"] == pair
    assert decoded[1]["record"]["join_helper"] == helper


def test_from_dict_rejects_unknown_topics_and_fields() -> None:
    with pytest.raises(ValueError, match="unknown topic"):
        from_dict("nope", {})
    with pytest.raises(ValueError, match="expected"):
        from_dict(PRICES, {"event_timestamp": 1, "token_pair": "WETH/DAI", "price": 1.0})


def test_empty_batch_is_empty() -> None:
    assert to_jsonl([]) == b""


@pytest.mark.parametrize(
    "odd", ["\n", "a\nb", "\t", "\\", '"', "\u2028", "é", "\x00", "inf", "nan"]
)
def test_jsonl_escapes_each_awkward_string(odd: str) -> None:
    records = [DexPrice(1, odd, 1.5, odd), DexPrice(2, "WETH/DAI", 2.5, "A")]
    lines = to_jsonl(records).split(b"\n")
    assert len(lines) == 3
    assert json.loads(lines[0])["record"]["token_pair"] == odd
