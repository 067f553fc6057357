"""Scoring the user's fraud detection against the attacks this tool injected.

``--detect`` (``DETECTION_SOURCE``) picks where detections come from:
``builtin`` (reference detectors inside the tool), ``kafka:TOPIC`` (the
user's detection output topic) or ``deltastream:QUERY`` (the user's
continuous query). A source's client library is imported only when that
source is used.
"""

from __future__ import annotations

from ..config import Settings
from .base import Detection, DetectionSource, SourceContext, SourceState, SourceStatus
from .judge import Judge
from .matching import Match, match
from .scoring import AttackScore, Scoreboard, ScoreEvent, ScoreSummary, Verdict

__all__ = [
    "AttackScore",
    "Detection",
    "DetectionSource",
    "Judge",
    "Match",
    "ScoreEvent",
    "ScoreSummary",
    "Scoreboard",
    "SourceContext",
    "SourceState",
    "SourceStatus",
    "Verdict",
    "create_source",
    "create_sources",
    "match",
    "split_spec",
]


def split_spec(spec: str) -> tuple[str, str]:
    """``kafka:alerts`` → (``kafka``, ``alerts``); ``builtin`` → (``builtin``, ``)."""
    kind, _, target = spec.partition(":")
    return kind, target


def create_source(spec: str, settings: Settings) -> DetectionSource:
    """The source a validated ``--detect`` value names (not yet started)."""
    kind, target = split_spec(spec)
    if kind == "kafka":
        from .kafka_source import KafkaSource

        return KafkaSource(target, settings)
    if kind == "deltastream":
        from .deltastream_source import DeltaStreamSource

        return DeltaStreamSource(target, settings)
    from .builtin import BuiltinSource

    return BuiltinSource("", settings)


def create_sources(settings: Settings) -> list[DetectionSource]:
    """The builtin source, then the one ``--detect`` names if it is another."""
    from .builtin import BuiltinSource

    sources: list[DetectionSource] = [BuiltinSource("", settings)]
    if settings.detect != "builtin":
        sources.append(create_source(settings.detect, settings))
    return sources
