"""``python -m defi_tui.tui``: the dashboard."""

from __future__ import annotations

import sys

from .app import main

sys.exit(main())
