"""The console script's front door: the generator's settings, one-line errors."""

from __future__ import annotations

import pytest

from defi_tui.tui.app import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--normal-interval", "0"], "--normal-interval='0' must be greater than 0"),
        (["--sink", "carrier-pigeon"], "--sink='carrier-pigeon' is not one of the choices"),
        (["--sink", "kafka"], "KAFKA_BOOTSTRAP_SERVERS is not set"),
    ],
)
def test_bad_settings_exit_2_with_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("defi-tui: error: ") and message in err
    assert err.count("\n") == 1


def test_secret_never_echoed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--deltastream-token", "s3cr3t-token", "--deltastream-org-id", "nope"]) == 2
    _, err = capsys.readouterr()
    assert "s3cr3t" not in err
    assert "--deltastream-org-id='nope' is not a UUID" in err
