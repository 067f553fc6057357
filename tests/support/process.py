"""Running ``defi-event-generator`` as a real process, as a user's script would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """An environment with nothing of the developer's: PATH, UTF-8 output, and ``extra``."""
    return {"PATH": os.environ.get("PATH", ""), "PYTHONIOENCODING": "utf-8", **(extra or {})}


def generator(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the generator to completion with ``args``; output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "defi_tui.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env=clean_env(env),
    )
