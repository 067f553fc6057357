"""Which attack a detection is about: the matching rule.

A detection matches an attack when:

1. one of its fields (nested ones included) equals the attacker's address or
   one of the attack's transaction hashes (loan, swap, repayment), in any
   letter case. A detection that names an address or hash (a ``0x`` value)
   is judged by those alone: naming none of an attack's is a false positive,
   whatever its time;
2. otherwise (a price or gas alert) a field named like a block
   (``block_number``, ``last_block``) equals the attack's block;
3. otherwise its times (fields named like a time: ``event_timestamp``,
   ``window_start``, ``window_end``, ...; epoch ms or s, or ISO-8601) fall in
   the attack's time window: from its first record's ``event_timestamp`` to
   ``slack_ms`` after its last one (long enough for the price's rebound at
   the next normal tick). When several attacks' windows hold it (load mode,
   where many attacks share a millisecond), the latest attack whose block is
   not above the detection's block wins, else the latest attack.

Anything else matches no attack: a false positive.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from ..ground_truth import AttackLedger, AttackTruth
from .base import epoch_ms, is_block_key, is_time_key, walk

DEFAULT_SLACK_MS = 10_000
"""Time after an attack's last record that its window still covers."""


class Match(NamedTuple):
    truth: AttackTruth
    rule: str
    """How it matched: ``attacker``, ``tx_hash``, ``block`` or ``time``."""


def _looks_like_hex_id(value: str) -> bool:
    return len(value) >= 10 and value[:2] in ("0x", "0X")


def match(
    fields: Mapping[str, Any], ledger: AttackLedger, slack_ms: int = DEFAULT_SLACK_MS
) -> Match | None:
    """The attack ``fields`` (one detection) is about, by the rule above; None for none."""
    names_id = False
    blocks: list[int] = []
    times: list[int] = []
    for key, value in walk(fields):
        if isinstance(value, str):
            if _looks_like_hex_id(value):
                names_id = True
                truth = ledger.by_value(value)
                if truth is not None:
                    rule = "attacker" if value.lower() == truth.attacker.lower() else "tx_hash"
                    return Match(truth, rule)
                continue
        if names_id:
            continue
        if is_block_key(key) and isinstance(value, int) and not isinstance(value, bool):
            blocks.append(value)
        elif is_time_key(key):
            ms = epoch_ms(value)
            if ms is not None:
                times.append(ms)
    if names_id:
        return None
    for block in blocks:
        truth = ledger.by_block(block)
        if truth is not None:
            return Match(truth, "block")
    if not times:
        return None
    earliest, latest = min(times), max(times)
    ceiling = max(blocks) if blocks else None
    fallback: AttackTruth | None = None
    for truth in ledger.newest_first():
        if not truth.steps:
            continue
        first = truth.first_event_ms
        if latest < first:
            continue
        if earliest > truth.last_event_ms + slack_ms:
            # Older attacks ended earlier still (attacks start and end in order).
            if first + slack_ms < earliest - _MAX_SPAN_MS:
                break
            continue
        if ceiling is None or truth.block_number <= ceiling:
            return Match(truth, "time")
        if fallback is None:
            fallback = truth
    return Match(fallback, "time") if fallback is not None else None


_MAX_SPAN_MS = 10 * 60_000
"""Longer than any attack lasts: the window search stops this far behind."""
