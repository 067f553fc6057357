"""``defi-event-generator --score``: detections printed as matched, the score table, exit status."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.process import generator

FAST = ["--normal-interval", "0.1", "--attack-interval", "0.5", "--attack-step-delay", "0.02"]


def test_score_prints_each_detection_and_the_table(tmp_path: Path) -> None:
    proc = generator(
        *FAST, "--duration", "1.3", "--seed", "5", "--score", "--expect-detected", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    attacks = out.count("SIMULATING FLASH LOAN ATTACK")
    assert attacks >= 2
    assert "   Scoring detections from builtin" in out
    assert out.count("🎯 attack #") == attacks
    assert "=== DETECTION SCORE (builtin) ===" in out
    table = out[out.index("=== DETECTION SCORE") :]
    assert f"attacks injected{attacks:>14,}" in table
    assert f"detected{attacks:>22,}   first by: price_anomaly {attacks}" in table
    assert f"missed{0:>24}" in table and f"false positives{0:>15}" in table
    assert "latency, wall time" in table and "✓ found" in table and "✗" not in table
    assert "Traceback" not in proc.stderr


def test_load_mode_scores_quietly(tmp_path: Path) -> None:
    proc = generator(
        "--count",
        "30000",
        "--attack-interval",
        "500",
        "--seed",
        "2",
        "--score",
        "--format",
        "jsonl",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    # Records alone on stdout; the score goes with the talk to stderr.
    assert "DETECTION SCORE" not in proc.stdout
    assert "=== DETECTION SCORE (builtin) ===" in proc.stderr
    assert "also " not in proc.stderr
    assert "missed                       0" in proc.stderr


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["--detect", "nope"],
            {},
            "--detect='nope' is not a detection source; allowed: builtin, "
            "kafka:TOPIC or deltastream:QUERY",
        ),
        (["--detect", "kafka:bad topic"], {}, "does not name a Kafka topic"),
        (
            ["--detect", "kafka:alerts"],
            {},
            "--detect='kafka:alerts' reads a Kafka topic but KAFKA_BOOTSTRAP_SERVERS is not set",
        ),
        (
            [],
            {"DETECTION_SOURCE": "deltastream:SELECT 1"},
            "DETECTION_SOURCE runs a DeltaStream query but DELTASTREAM_TOKEN",
        ),
        (["--detect-timeout", "0"], {}, "--detect-timeout='0' must be greater than 0"),
    ],
)
def test_bad_detection_settings_are_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    proc = generator(*args, "--score", cwd=tmp_path, env=env)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
