"""The core never reaches Textual: the headless generator stays light."""

from __future__ import annotations

import subprocess
import sys


def test_core_modules_import_no_textual_plotext_or_tui() -> None:
    code = (
        "import sys\n"
        "import defi_tui.config, defi_tui.events, defi_tui.simulator, defi_tui.engine\n"
        "import defi_tui.cli, defi_tui.sinks, defi_tui.sinks.local\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('textual', 'plotext', 'textual_plotext') or m.startswith('defi_tui.tui'))\n"
        "print(' '.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_the_dashboard_does_import_them() -> None:
    # The check above would pass vacuously if the names were wrong.
    code = "import sys, defi_tui.tui.app; print('textual' in sys.modules, 'plotext' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["True", "True"]
