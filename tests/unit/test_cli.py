"""``defi-event-generator`` end to end, as a real process."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

from defi_tui.cli import summary_lines
from defi_tui.engine import RunSummary, TopicStats, rate_text
from defi_tui.events import TOPICS, from_dict
from support.process import clean_env, generator

FAST = ["--normal-interval", "0.1", "--attack-interval", "0.5", "--attack-step-delay", "0.02"]


def test_short_run_prints_the_original_examples_output_and_records(tmp_path: Path) -> None:
    record = tmp_path / "run.jsonl"
    proc = generator(
        *FAST, "--duration", "1.2", "--seed", "5", "--record", str(record), cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "🚀 Started generating real-time on-chain data..." in out
    assert "   Normal traffic every 0.1s" in out and "   Running for 1.2s" in out
    assert "Seed 5" in out
    assert "=== ENTITY SETUP ===" in out
    for topic in TOPICS:
        assert f"✅ Entity '{topic}' ready" in out
    assert "🚨 --- SIMULATING FLASH LOAN ATTACK by 0x" in out
    assert "  → onchain_transactions: {" in out
    for step in range(1, 6):
        assert f"\n{step}. " in out
    assert "." in out
    assert "✅ Completed generation cycle" in out
    assert "=== SUMMARY ===" in out
    total = next(line for line in out.splitlines() if line.startswith("total"))
    produced, delivered, failed, dropped, lost = (
        int(x.replace(",", "")) for x in total.split()[1:]
    )
    assert produced == delivered > 0 and failed == dropped == lost == 0
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    # Records, then each attack's ground truth once its five records are in.
    truths = [obj for obj in lines if obj["topic"] == "_attacks"]
    assert len(truths) == out.count("SIMULATING FLASH LOAN ATTACK") > 0
    assert len(lines) == produced + len(truths)
    for obj in lines:
        if obj["topic"] != "_attacks":
            from_dict(obj["topic"], obj["record"])
    assert "Traceback" not in proc.stderr


def test_same_seed_same_stream_in_load_mode(tmp_path: Path) -> None:
    a = generator("--count", "5000", "--seed", "9", "--format", "jsonl", cwd=tmp_path)
    b = generator("--count", "5000", "--seed", "9", "--format", "jsonl", cwd=tmp_path)
    assert a.returncode == b.returncode == 0

    def strip(text: str) -> list[dict]:
        rows = [json.loads(line) for line in text.splitlines()]
        for row in rows:
            row["record"].pop("event_timestamp")
        return rows

    assert len(a.stdout.splitlines()) == 5000
    assert strip(a.stdout) == strip(b.stdout)
    # jsonl mode keeps stdout for records; the talk went to stderr.
    assert "=== SUMMARY ===" in a.stderr and "=== SUMMARY ===" not in a.stdout


def test_ctrl_c_stops_cleanly_with_a_summary(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "defi_tui.cli", *FAST, "--seed", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=clean_env(),
    )
    assert proc.stdout is not None
    # Wait for the event (setup done), not for a time.
    for line in proc.stdout:
        if line.startswith("✅ Entity 'mempool_data'"):
            break
    proc.send_signal(signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "⚠️  Stopped by user" in rest
    assert "=== SUMMARY ===" in rest
    assert "Traceback" not in err


def test_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "defi_tui.cli", "--rate", "0", "--format", "jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert json.loads(first)["topic"] == "onchain_transactions"
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert b"Traceback" not in err


def test_the_summary_line_reads_well_at_a_few_and_at_a_million_records_per_second() -> None:
    topics = {
        t: TopicStats(produced=n, delivered=n) for t, n in zip(TOPICS, (28, 24, 24), strict=True)
    }
    slow = summary_lines(RunSummary(topics, elapsed=14.0, attacks=2, records_per_second=5.43))
    assert slow[-1] == "76 records in 14.0s (5.4 records/s), 2 attacks"
    topics = {
        t: TopicStats(produced=n) for t, n in zip(TOPICS, (350_650, 324_675, 324_675), strict=True)
    }
    fast = RunSummary(topics, elapsed=1.72, attacks=12_987, records_per_second=581_397.24)
    assert summary_lines(fast)[-1] == (
        "1,000,000 records in 1.7s (581,397 records/s), 12,987 attacks"
    )


def test_a_rate_keeps_a_tenth_only_below_a_hundred() -> None:
    assert [rate_text(r) for r in (0.0, 5.43, 99.94, 100.0, 1_234.5)] == [
        "0.0",
        "5.4",
        "99.9",
        "100",
        "1,234",
    ]
