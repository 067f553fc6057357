"""Shared pieces of the Kafka sink tests (fixtures are in tests/kafka/conftest.py)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from defi_tui.config import Settings
from defi_tui.events import DexPrice, MempoolSample, Record, Transaction
from defi_tui.simulator import Simulator


def kafka_settings(bootstrap: str, setup_timeout: float = 5.0, **kw: Any) -> Settings:
    extra = {"kafka_setup_timeout": setup_timeout, **kw.pop("extra", {})}
    return Settings(
        sink="kafka",
        kafka_bootstrap_servers=bootstrap,
        seed=3,
        seed_given=True,
        extra=extra,
        **kw,
    )


def normal_records(ticks: int, seed: int = 5) -> list[Record]:
    out: list[Record] = []
    for tick in Simulator(seed).normal_ticks(ticks, 1_767_225_600_000):
        out.extend(tick)
    return out


_text = st.text(max_size=12)
_float = st.floats(allow_nan=False, allow_infinity=False)
_int = st.integers(min_value=0, max_value=2**63 - 1)
any_record = st.one_of(
    st.builds(Transaction, _text, _int, _int, _text, _text, _text, _float),
    st.builds(DexPrice, _int, _text, _float, _text),
    st.builds(MempoolSample, _int, _int, _int),
)
"""Any record, with strings that need escaping, unicode, exponents."""
