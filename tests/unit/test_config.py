"""Settings: precedence, defaults and one-line validation errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from defi_tui import cli
from defi_tui.config import ConfigError, Secret, load_settings

ORG = "123e4567-e89b-12d3-a456-426614174000"
TOKEN = "tok-SECRET-value-123"


def settings(env: dict[str, str] | None = None, argv: list[str] | None = None):
    return load_settings(argv or [], env or {})


def test_defaults_match_the_design() -> None:
    s = settings()
    assert (s.normal_interval, s.attack_interval, s.attack_step_delay, s.duration) == (5, 120, 1, 0)
    assert s.sink == "local"
    assert s.store_name == "kafka_store"
    assert not s.seed_given and 0 <= s.seed < 2**32
    assert not s.load_mode


def test_flags_beat_environment_beat_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("NORMAL_TRAFFIC_INTERVAL=7\nATTACK_INTERVAL=60\nDURATION=9\n")
    monkeypatch.chdir(tmp_path)
    s = load_settings(["--duration", "3"], {"ATTACK_INTERVAL": "30"})
    assert (s.normal_interval, s.attack_interval, s.duration) == (7, 30, 3)


def test_auto_sink_resolution() -> None:
    assert settings({"KAFKA_BOOTSTRAP_SERVERS": "h:9092"}).sink == "kafka"
    s = settings({"DELTASTREAM_TOKEN": TOKEN, "DELTASTREAM_ORG_ID": ORG})
    assert s.sink == "deltastream"
    assert isinstance(s.deltastream_token, Secret) and s.deltastream_token.reveal() == TOKEN
    assert TOKEN not in repr(s)


def test_count_without_rate_is_unthrottled_load_mode() -> None:
    s = settings(argv=["--count", "10"])
    assert s.load_mode and s.rate == 0 and s.count == 10
    assert s.effective_step_delay == 0


BAD = [
    ({"NORMAL_TRAFFIC_INTERVAL": "abc"}, "NORMAL_TRAFFIC_INTERVAL='abc' is not a number"),
    ({"NORMAL_TRAFFIC_INTERVAL": "0"}, "NORMAL_TRAFFIC_INTERVAL='0' must be greater than 0"),
    ({"NORMAL_TRAFFIC_INTERVAL": "-1"}, "must be greater than 0"),
    ({"NORMAL_TRAFFIC_INTERVAL": "inf"}, "is not a finite number"),
    ({"ATTACK_INTERVAL": "nan"}, "ATTACK_INTERVAL='nan' is not a finite number"),
    ({"ATTACK_INTERVAL": "0"}, "ATTACK_INTERVAL='0' must be greater than 0"),
    ({"DURATION": "-5"}, "DURATION='-5' must not be negative"),
    ({"DURATION": "Infinity"}, "DURATION='Infinity' is not a finite number"),
    ({"DURATION": "ten"}, "DURATION='ten' is not a number"),
    ({"ATTACK_STEP_DELAY": "-0.5"}, "ATTACK_STEP_DELAY='-0.5' must not be negative"),
    ({"SINK": "redis"}, "SINK='redis' is not one of the choices; allowed: one of auto, local"),
    ({"SEED": "1.5"}, "SEED='1.5' is not a whole number"),
    ({"SEED": "abc"}, "SEED='abc' is not a whole number"),
    ({"SINK": "deltastream"}, "DELTASTREAM_TOKEN is not set but the deltastream sink needs it"),
    (
        {"SINK": "deltastream", "DELTASTREAM_TOKEN": TOKEN},
        "DELTASTREAM_ORG_ID is not set but the deltastream sink needs it",
    ),
    (
        {"DELTASTREAM_TOKEN": TOKEN, "DELTASTREAM_ORG_ID": "my-org"},
        "DELTASTREAM_ORG_ID='my-org' is not a UUID",
    ),
    ({"SINK": "kafka"}, "KAFKA_BOOTSTRAP_SERVERS is not set but the kafka sink needs it"),
    ({"BUFFER_SIZE": "0"}, "BUFFER_SIZE='0' must be greater than 0"),
]


@pytest.mark.parametrize(("env", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_environment_values_give_one_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        settings(env)
    text = str(err.value)
    assert message in text
    assert "\n" not in text
    assert "allowed" in text
    assert TOKEN not in text


BAD_FLAGS = [
    (["--normal-interval", "x"], "--normal-interval='x' is not a number"),
    (["--attack-interval", "-3"], "--attack-interval='-3' must be greater than 0"),
    (["--duration", "nan"], "--duration='nan' is not a finite number"),
    (["--rate", "-1"], "--rate='-1' must not be negative"),
    (["--count", "0"], "--count='0' must be greater than 0"),
    (["--count", "1.5"], "--count='1.5' is not a whole number"),
    (["--format", "xml"], "--format='xml' is not one of the choices"),
    (["--sink", "s3"], "--sink='s3' is not one of the choices"),
    (
        ["--record", "/nonexistent-dir/x.jsonl"],
        "--record='/nonexistent-dir/x.jsonl' cannot be written",
    ),
    (["--record", "."], "--record='.' is a directory"),
    (["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_FLAGS, ids=[m for _, m in BAD_FLAGS])
def test_bad_flags_exit_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("defi-event-generator: error: ")
    assert message in err


def test_token_is_never_echoed_even_when_it_is_the_bad_value(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        cli.main(["--deltastream-token", "   ", "--sink", "deltastream"])
    _, err = capsys.readouterr()
    assert "DELTASTREAM" in err or "deltastream" in err
    with pytest.raises(SystemExit):
        cli.main(["--deltastream-token", TOKEN, "--deltastream-org-id", "nope"])
    _, err = capsys.readouterr()
    assert TOKEN not in err and "is not a UUID" in err


def test_help_documents_every_variable(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    for name in [
        "NORMAL_TRAFFIC_INTERVAL",
        "ATTACK_INTERVAL",
        "ATTACK_STEP_DELAY",
        "DURATION",
        "SINK",
        "SEED",
        "STORE_NAME",
        "DELTASTREAM_TOKEN",
        "DELTASTREAM_ORG_ID",
        "DELTASTREAM_SERVER_URL",
        "DELTASTREAM_DATABASE_NAME",
        "KAFKA_BOOTSTRAP_SERVERS",
        "--record",
        "--rate",
        "--count",
        "--format",
        "(default: 5)",
        "(default: 120)",
    ]:
        assert name in out, name


@pytest.mark.parametrize(
    "env",
    [
        {"NORMAL_TRAFFIC_INTERVAL": "abc"},
        {"SEED": "x"},
        {"SINK": "deltastream", "DELTASTREAM_TOKEN": TOKEN},
    ],
)
def test_real_process_exits_2_without_traceback(env: dict[str, str], tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "defi_tui.cli"],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert TOKEN not in proc.stderr
