"""The dashboard's panels, one module per widget.

Widgets are dumb: the app hands them data; they never call the engine or a sink.
"""

from __future__ import annotations

from .detection_panel import DetectionPanel, DetectionView
from .gas_sparkline import GasSparkline
from .key_help import KeyHelpScreen
from .price_chart import PriceChart
from .sink_status import SinkStatusPanel, TopicCounts
from .status_bar import StatusBar
from .tx_feed import FeedRow, TxFeed

__all__ = [
    "DetectionPanel",
    "DetectionView",
    "FeedRow",
    "GasSparkline",
    "KeyHelpScreen",
    "PriceChart",
    "SinkStatusPanel",
    "StatusBar",
    "TopicCounts",
    "TxFeed",
]
