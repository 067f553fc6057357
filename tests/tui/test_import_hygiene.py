"""The core never reaches Textual: the headless generator stays light."""

from __future__ import annotations

import subprocess
import sys


def test_core_modules_import_no_textual_plotext_or_tui() -> None:
    code = (
        "import sys\n"
        "import defi_tui.config, defi_tui.events, defi_tui.simulator, defi_tui.engine\n"
        "import defi_tui.cli, defi_tui.sinks, defi_tui.sinks.local, defi_tui.ground_truth\n"
        "import defi_tui.detection, defi_tui.detection.builtin, defi_tui.detection.kafka_source\n"
        "import defi_tui.detection.deltastream_source\n"
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


def test_a_builtin_scored_run_loads_no_kafka_or_deltastream_client() -> None:
    # Clients are imported only by the source (or sink) that uses them.
    code = (
        "import sys\n"
        "from defi_tui.config import Settings\n"
        "from defi_tui.detection import create_sources\n"
        "create_sources(Settings())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('confluent_kafka', 'deltastream', 'deltastream_sdk')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
