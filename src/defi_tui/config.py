"""Settings: CLI flags > environment > ``.env`` > defaults, validated once at start.

Every option lives in one table (:data:`OPTIONS`) that builds the argument
parser, the ``--help`` text and the validation, so a flag, its environment
name and its default can never drift apart. A bad value raises
:class:`ConfigError` with one line naming the flag or variable, the value and
what is allowed; the front ends turn it into exit status 2.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from dotenv import dotenv_values, find_dotenv

SINK_CHOICES = ("auto", "local", "deltastream", "kafka")
FORMAT_CHOICES = ("text", "jsonl")


class ConfigError(Exception):
    """A setting is invalid; the message is one line meant for the user."""


class Secret:
    """A value that never shows itself in ``str``, ``repr``, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that must send it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    """Everything a run needs, validated. Built by :func:`load_settings`."""

    normal_interval: float = 5.0
    """Seconds between normal ticks (NORMAL_TRAFFIC_INTERVAL)."""
    attack_interval: float = 120.0
    """Seconds between scheduled attacks (ATTACK_INTERVAL)."""
    attack_step_delay: float = 1.0
    """Seconds between the five steps of an attack (ATTACK_STEP_DELAY)."""
    duration: float = 0.0
    """Total seconds to run; 0 runs until stopped (DURATION)."""
    sink: str = "local"
    """The sink to publish to, with ``auto`` already resolved (SINK)."""
    seed: int = 0
    """RNG seed; the same seed and schedule give the same records (SEED)."""
    seed_given: bool = False
    """Whether the seed came from the user rather than being drawn at random."""
    store_name: str = "kafka_store"
    """DeltaStream store holding the entities (STORE_NAME)."""
    deltastream_token: Secret | None = None
    """DeltaStream API token (DELTASTREAM_TOKEN); never printed."""
    deltastream_org_id: str | None = None
    """DeltaStream organization id, a UUID (DELTASTREAM_ORG_ID)."""
    deltastream_server_url: str | None = None
    """DeltaStream API base URL; None means the SDK's default (DELTASTREAM_SERVER_URL)."""
    deltastream_database_name: str | None = None
    """Database to ``USE`` before anything else (DELTASTREAM_DATABASE_NAME)."""
    kafka_bootstrap_servers: str | None = None
    """Kafka bootstrap servers for the kafka sink (KAFKA_BOOTSTRAP_SERVERS)."""
    kafka_properties: Mapping[str, str | Secret] = field(default_factory=dict)
    """Every other librdkafka property, by its dotted name: ``KAFKA_*`` variables and
    ``--kafka-config`` FILE. Values of secret-looking names are :class:`Secret`."""
    kafka_property_sources: Mapping[str, str] = field(default_factory=dict)
    """Where each Kafka property came from (a variable, or file and line), for error messages."""
    record: Path | None = None
    """Append every record to this JSONL file (--record)."""
    rate: float | None = None
    """Load mode: target records per second, 0 as fast as possible (--rate)."""
    count: int | None = None
    """Load mode: stop after exactly this many records (--count)."""
    output_format: str = "text"
    """Console output: ``text`` like the original example, or ``jsonl`` records (--format)."""
    buffer_size: int = 100_000
    """Records a sink may hold while its target is slow or down (BUFFER_SIZE)."""
    flush_timeout: float = 10.0
    """Seconds a stop waits for pending records to be delivered (FLUSH_TIMEOUT)."""
    detect: str = "builtin"
    """Where detections to score come from: builtin, kafka:TOPIC or deltastream:QUERY (--detect)."""
    detect_timeout: float = 30.0
    """Seconds after an attack's last record within which it must be detected (--detect-timeout)."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Options that sinks or front ends add to the table, by field name."""

    @property
    def load_mode(self) -> bool:
        """Whether records are paced by count/rate instead of the tick clock."""
        return self.rate is not None or self.count is not None

    @property
    def effective_step_delay(self) -> float:
        """Attack step spacing: none in load mode, where pacing is by record count."""
        return 0.0 if self.load_mode else self.attack_step_delay


# --- value parsers: each takes the raw text and returns the value or raises ValueError(why)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("is not a number") from None
    if math.isnan(value) or math.isinf(value):
        raise ValueError("is not a finite number")
    return value


def positive_seconds(text: str) -> float:
    """A finite number of seconds > 0."""
    value = _number(text)
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def non_negative_seconds(text: str) -> float:
    """A finite number of seconds >= 0."""
    value = _number(text)
    if value < 0:
        raise ValueError("must not be negative")
    return value


def positive_int(text: str) -> int:
    """A whole number > 0."""
    try:
        value = int(text.strip().replace("_", ""))
    except ValueError:
        raise ValueError("is not a whole number") from None
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def seed_value(text: str) -> int:
    """A whole number >= 0."""
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError("is not a whole number") from None
    if value < 0:
        raise ValueError("must not be negative")
    return value


def choice(*allowed: str) -> Callable[[str], str]:
    """One of a fixed set of words, compared case-insensitively."""

    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in allowed:
            raise ValueError("is not one of the choices")
        return value

    return parse


def text_value(text: str) -> str:
    """Any non-empty text."""
    if not text.strip():
        raise ValueError("is empty")
    return text.strip()


def uuid_text(text: str) -> str:
    """A UUID such as 123e4567-e89b-12d3-a456-426614174000."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise ValueError("is not a UUID") from None


def int_between(low: int, high: int) -> Callable[[str], int]:
    """A whole number from ``low`` to ``high``."""

    def parse(text: str) -> int:
        value = positive_int(text) if low > 0 else seed_value(text)
        if not low <= value <= high:
            raise ValueError(f"is not between {low} and {high}")
        return value

    return parse


def switch(text: str) -> bool:
    """A flag without a value; never parsed from text, present for the table's shape."""
    return bool(text)


_KAFKA_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


def detection_source(text: str) -> str:
    """``builtin``, ``kafka:TOPIC`` or ``deltastream:QUERY``."""
    kind, sep, target = text.strip().partition(":")
    kind = kind.strip().lower()
    target = target.strip()
    if kind == "builtin" and not sep:
        return "builtin"
    if kind == "kafka":
        if not _KAFKA_TOPIC.fullmatch(target):
            raise ValueError("does not name a Kafka topic (letters, digits, '.', '_', '-')")
        return f"kafka:{target}"
    if kind == "deltastream":
        if not target:
            raise ValueError("has no query after 'deltastream:'")
        return f"deltastream:{target}"
    raise ValueError("is not a detection source")


def writable_file(text: str) -> Path:
    """A file that can be created or appended to."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise ValueError("is a directory")
    try:
        with path.open("ab"):
            pass
    except OSError as exc:
        raise ValueError(f"cannot be written ({exc.strerror or exc})") from None
    return path


def readable_file(text: str) -> Path:
    """An existing file that can be read."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise ValueError("is a directory")
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror or exc})") from None
    return path


_TOPIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
MAX_TOPIC_NAME = 249
"""Kafka's limit on the length of a topic name."""


def topic_name(text: str) -> str:
    """A Kafka topic name: letters, digits, '.', '_' and '-', at most 249 of them."""
    value = text.strip()
    if not value:
        raise ValueError("is empty")
    if not set(value) <= _TOPIC_CHARS:
        raise ValueError("has characters Kafka does not allow in a topic name")
    if len(value) > MAX_TOPIC_NAME:
        raise ValueError(f"is longer than {MAX_TOPIC_NAME} characters")
    if value in (".", ".."):
        raise ValueError("is not a usable topic name")
    return value


def topic_prefix(text: str) -> str:
    """The start of a topic name: the characters a topic name allows."""
    value = text.strip()
    if not set(value) <= _TOPIC_CHARS:
        raise ValueError("has characters Kafka does not allow in a topic name")
    if len(value) > MAX_TOPIC_NAME - 1:
        raise ValueError(f"is longer than {MAX_TOPIC_NAME - 1} characters")
    return value


@dataclass(frozen=True)
class Option:
    """One setting: where it comes from, how it is parsed, what ``--help`` says."""

    name: str
    """Field of :class:`Settings` (or key of ``Settings.extra``)."""
    flag: str
    env: str | None
    parse: Callable[[str], Any]
    allowed: str
    """What is allowed, in words: the tail of every error about this option."""
    help: str
    default: Any = None
    secret: bool = False
    metavar: str | None = None
    is_switch: bool = False
    """A flag without a value (``--yes``); only settable on the command line."""


OPTIONS: list[Option] = [
    Option(
        "normal_interval",
        "--normal-interval",
        "NORMAL_TRAFFIC_INTERVAL",
        positive_seconds,
        "a number of seconds > 0 (fractions allowed)",
        "seconds between normal ticks",
        5.0,
        metavar="SECONDS",
    ),
    Option(
        "attack_interval",
        "--attack-interval",
        "ATTACK_INTERVAL",
        positive_seconds,
        "a number of seconds > 0",
        "seconds between scheduled flash-loan attacks",
        120.0,
        metavar="SECONDS",
    ),
    Option(
        "attack_step_delay",
        "--attack-step-delay",
        "ATTACK_STEP_DELAY",
        non_negative_seconds,
        "a number of seconds >= 0",
        "seconds between the five steps of an attack",
        1.0,
        metavar="SECONDS",
    ),
    Option(
        "duration",
        "--duration",
        "DURATION",
        non_negative_seconds,
        "a number of seconds >= 0 (0 runs until stopped)",
        "total seconds to run, 0 = until stopped",
        0.0,
        metavar="SECONDS",
    ),
    Option(
        "sink",
        "--sink",
        "SINK",
        choice(*SINK_CHOICES),
        "one of " + ", ".join(SINK_CHOICES),
        "where records go: auto picks deltastream with credentials, kafka with bootstrap "
        "servers, else local",
        "auto",
    ),
    Option(
        "seed",
        "--seed",
        "SEED",
        seed_value,
        "a whole number >= 0",
        "RNG seed for a reproducible stream (random if unset; printed at start)",
        None,
    ),
    Option(
        "store_name",
        "--store",
        "STORE_NAME",
        text_value,
        "a non-empty store name",
        "DeltaStream store holding the entities",
        "kafka_store",
        metavar="NAME",
    ),
    Option(
        "deltastream_token",
        "--deltastream-token",
        "DELTASTREAM_TOKEN",
        text_value,
        "a non-empty API token",
        "DeltaStream API token (prefer the environment)",
        None,
        secret=True,
        metavar="TOKEN",
    ),
    Option(
        "deltastream_org_id",
        "--deltastream-org-id",
        "DELTASTREAM_ORG_ID",
        uuid_text,
        "a UUID such as 123e4567-e89b-12d3-a456-426614174000",
        "DeltaStream organization id",
        None,
        metavar="UUID",
    ),
    Option(
        "deltastream_server_url",
        "--deltastream-server-url",
        "DELTASTREAM_SERVER_URL",
        text_value,
        "a URL",
        "DeltaStream API base URL (default: the SDK's production URL)",
        None,
        metavar="URL",
    ),
    Option(
        "deltastream_database_name",
        "--deltastream-database",
        "DELTASTREAM_DATABASE_NAME",
        text_value,
        "a database name",
        "DeltaStream database to USE before anything else",
        None,
        metavar="NAME",
    ),
    Option(
        "kafka_bootstrap_servers",
        "--kafka-bootstrap-servers",
        "KAFKA_BOOTSTRAP_SERVERS",
        text_value,
        "host:port[,host:port...]",
        "Kafka cluster for the kafka sink",
        None,
        metavar="HOSTS",
    ),
    Option(
        "record",
        "--record",
        "RECORD_FILE",
        writable_file,
        "a file path that can be written",
        'append every record to FILE as JSON lines {"topic": ..., "record": {...}}',
        None,
        metavar="FILE",
    ),
    Option(
        "rate",
        "--rate",
        "RATE",
        non_negative_seconds,
        "a number of records per second >= 0",
        "load mode: target records per second, 0 = as fast as possible",
        None,
        metavar="N",
    ),
    Option(
        "count",
        "--count",
        "COUNT",
        positive_int,
        "a whole number > 0",
        "load mode: stop after exactly N records",
        None,
        metavar="N",
    ),
    Option(
        "output_format",
        "--format",
        "OUTPUT_FORMAT",
        choice(*FORMAT_CHOICES),
        "one of " + ", ".join(FORMAT_CHOICES),
        "console output: text (banners, dots) or jsonl (records only on stdout)",
        "text",
    ),
    Option(
        "buffer_size",
        "--buffer-size",
        "BUFFER_SIZE",
        positive_int,
        "a whole number > 0",
        "records a sink holds while its target is slow or down; overflow is counted as dropped",
        100_000,
        metavar="N",
    ),
    Option(
        "flush_timeout",
        "--flush-timeout",
        "FLUSH_TIMEOUT",
        non_negative_seconds,
        "a number of seconds >= 0",
        "seconds a stop waits for pending records",
        10.0,
        metavar="SECONDS",
    ),
    # --- Detection scoring (detection/) ----------------------------------------------------
    Option(
        "detect",
        "--detect",
        "DETECTION_SOURCE",
        detection_source,
        "builtin, kafka:TOPIC or deltastream:QUERY",
        "where the detections to score come from: the builtin reference detectors, the user's "
        "detection topic on the Kafka cluster, or the user's continuous query on DeltaStream",
        "builtin",
        metavar="SOURCE",
    ),
    Option(
        "detect_timeout",
        "--detect-timeout",
        "DETECTION_TIMEOUT",
        positive_seconds,
        "a number of seconds > 0",
        "an attack not detected this long after its last record counts as missed; at the end "
        "of a scored run the generator waits up to this long for the last detections",
        30.0,
        metavar="SECONDS",
    ),
    Option(
        "score",
        "--score",
        None,
        switch,
        "no value",
        "score the detection source against the injected attacks: print each detection as it "
        "is matched and a score table at the end",
        None,
        is_switch=True,
    ),
    Option(
        "expect_detected",
        "--expect-detected",
        None,
        switch,
        "no value",
        "with --score (implied): exit with status 3 if an attack was missed",
        None,
        is_switch=True,
    ),
    # --- DeltaStream sink (sinks/deltastream.py) -------------------------------------------
    Option(
        "deltastream_partitions",
        "--deltastream-partitions",
        "DELTASTREAM_PARTITIONS",
        positive_int,
        "a whole number > 0",
        "kafka.partitions of the entities the deltastream sink creates",
        3,
        metavar="N",
    ),
    Option(
        "deltastream_replicas",
        "--deltastream-replicas",
        "DELTASTREAM_REPLICAS",
        positive_int,
        "a whole number > 0",
        "kafka.replicas of the entities the deltastream sink creates",
        1,
        metavar="N",
    ),
    Option(
        "deltastream_retention_ms",
        "--deltastream-retention-ms",
        "DELTASTREAM_RETENTION_MS",
        positive_int,
        "a whole number of milliseconds > 0",
        "kafka.topic.retention.ms of the entities the deltastream sink creates (7 days)",
        604_800_000,
        metavar="MS",
    ),
    Option(
        "deltastream_statement_timeout",
        "--deltastream-statement-timeout",
        "DELTASTREAM_STATEMENT_TIMEOUT",
        positive_seconds,
        "a number of seconds > 0",
        "seconds one DeltaStream statement may take before it is abandoned and retried",
        30.0,
        metavar="SECONDS",
    ),
    Option(
        "deltastream_retry_max",
        "--deltastream-retry-max",
        "DELTASTREAM_RETRY_MAX",
        positive_seconds,
        "a number of seconds > 0",
        "longest wait between retries while DeltaStream is unavailable",
        30.0,
        metavar="SECONDS",
    ),
    Option(
        "deltastream_in_flight",
        "--deltastream-in-flight",
        "DELTASTREAM_IN_FLIGHT",
        int_between(1, 16),
        "a whole number from 1 to 16",
        "INSERT statements in flight per entity; 1 keeps each entity's records in order, "
        "more trade that order for throughput",
        1,
        metavar="N",
    ),
    Option(
        "create_streams",
        "--create-streams",
        None,
        switch,
        "no value",
        "define DeltaStream streams over the three entities (if missing), then exit",
        None,
        is_switch=True,
    ),
    Option(
        "drop_entities",
        "--drop-entities",
        None,
        switch,
        "no value",
        "drop the streams and entities this tool creates in DeltaStream (asks first), then exit",
        None,
        is_switch=True,
    ),
    Option(
        "yes",
        "--yes",
        None,
        switch,
        "no value",
        "answer yes to confirmation questions (--drop-entities)",
        None,
        is_switch=True,
    ),
    # --- Kafka sink. Every other librdkafka property comes from KAFKA_* variables or the
    # properties file (see kafka_properties below); these env names are not passed through.
    Option(
        "kafka_config",
        "--kafka-config",
        "KAFKA_CONFIG_FILE",
        readable_file,
        "a readable properties file (name=value lines)",
        "kafka sink: librdkafka properties file (name=value lines, e.g. "
        "security.protocol=SASL_SSL); KAFKA_<PROPERTY> variables override it",
        None,
        metavar="FILE",
    ),
    Option(
        "topic_prefix",
        "--topic-prefix",
        "KAFKA_TOPIC_PREFIX",
        topic_prefix,
        "letters, digits, '.', '_' and '-'",
        "kafka sink: put PREFIX in front of every topic name",
        None,
        metavar="PREFIX",
    ),
    Option(
        "topic_transactions",
        "--topic-transactions",
        "KAFKA_TOPIC_TRANSACTIONS",
        topic_name,
        "a Kafka topic name (letters, digits, '.', '_', '-'; at most 249)",
        "kafka sink: topic for on-chain transactions",
        "onchain_transactions",
        metavar="NAME",
    ),
    Option(
        "topic_prices",
        "--topic-prices",
        "KAFKA_TOPIC_PRICES",
        topic_name,
        "a Kafka topic name (letters, digits, '.', '_', '-'; at most 249)",
        "kafka sink: topic for DEX prices",
        "dex_prices",
        metavar="NAME",
    ),
    Option(
        "topic_mempool",
        "--topic-mempool",
        "KAFKA_TOPIC_MEMPOOL",
        topic_name,
        "a Kafka topic name (letters, digits, '.', '_', '-'; at most 249)",
        "kafka sink: topic for mempool gas samples",
        "mempool_data",
        metavar="NAME",
    ),
    Option(
        "topic_partitions",
        "--topic-partitions",
        "KAFKA_TOPIC_PARTITIONS",
        positive_int,
        "a whole number > 0",
        "kafka sink: partitions of topics it creates",
        3,
        metavar="N",
    ),
    Option(
        "topic_replication_factor",
        "--topic-replication-factor",
        "KAFKA_TOPIC_REPLICATION_FACTOR",
        positive_int,
        "a whole number > 0",
        "kafka sink: replication factor of topics it creates",
        1,
        metavar="N",
    ),
    Option(
        "kafka_setup_timeout",
        "--kafka-setup-timeout",
        "KAFKA_SETUP_TIMEOUT",
        positive_seconds,
        "a number of seconds > 0",
        "kafka sink: longest wait for the cluster to list and create topics before producing",
        10.0,
        metavar="SECONDS",
    ),
]
"""Every option of both front ends. Sinks add theirs with :func:`register_option`."""


def register_option(option: Option) -> None:
    """Add an option (a sink's own settings); its value lands in ``Settings.extra``."""
    if any(o.name == option.name or o.flag == option.flag for o in OPTIONS):
        raise ValueError(f"option {option.name} / {option.flag} is already registered")
    OPTIONS.append(option)


_SETTINGS_FIELDS = set(Settings.__dataclass_fields__)


class _OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus an error; we want one line and our own exit path."""

    def error(self, message: str) -> NoReturn:
        raise ConfigError(message)


def build_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The argument parser for a front end, built from :data:`OPTIONS`."""
    parser = _OneLineParser(
        prog=prog,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Flags override environment variables, which override a .env file in the "
        "working directory, which overrides the defaults.",
    )
    for opt in OPTIONS:
        where = f"[env {opt.env}]" if opt.env else ""
        default = "" if opt.default is None or opt.secret else f" (default: {_show(opt.default)})"
        if opt.is_switch:
            parser.add_argument(
                opt.flag,
                dest=opt.name,
                action="store_true",
                default=None,
                help=f"{opt.help}{default}",
            )
        else:
            parser.add_argument(
                opt.flag,
                dest=opt.name,
                default=None,
                metavar=opt.metavar,
                help=f"{opt.help}{default} {where}".strip(),
            )
    return parser


def _show(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _describe(opt: Option, source: str, raw: str) -> str:
    shown = "********" if opt.secret else raw
    return f"{source}={shown!r}"


def load_settings(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    prog: str = "defi-event-generator",
    description: str = "",
    dotenv: bool = True,
) -> Settings:
    """Build and validate the settings of one run.

    Args:
        argv: command-line arguments (without the program name).
        environ: environment; ``os.environ`` when None.
        prog: program name for ``--help``.
        description: ``--help`` description.
        dotenv: read a ``.env`` found from the working directory.

    Raises:
        ConfigError: a value is invalid (one line, naming it).
    """
    parser = build_parser(prog, description)
    args = parser.parse_args(list(argv) if argv is not None else None)
    env = dict(os.environ if environ is None else environ)
    file_values: dict[str, str] = {}
    if dotenv:
        path = find_dotenv(usecwd=True)
        if path:
            file_values = {k: v for k, v in dotenv_values(path).items() if v is not None}

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for opt in OPTIONS:
        flag_value = getattr(args, opt.name)
        if opt.is_switch:
            values[opt.name] = bool(flag_value)
            continue
        raw: str | None
        if flag_value is not None:
            raw, source = flag_value, opt.flag
        elif opt.env and opt.env in env and env[opt.env] != "":
            raw, source = env[opt.env], opt.env
        elif opt.env and opt.env in file_values and file_values[opt.env] != "":
            raw, source = file_values[opt.env], f"{opt.env} (.env)"
        else:
            raw, source = None, ""
        if raw is None:
            values[opt.name] = opt.default
            continue
        try:
            value = opt.parse(raw)
        except ValueError as exc:
            raise ConfigError(
                f"{_describe(opt, source, raw)} {exc}; allowed: {opt.allowed}"
            ) from None
        values[opt.name] = Secret(value) if opt.secret else value
        sources[opt.name] = source

    _collect_kafka_properties(values, sources, env, file_values)
    values["sink"] = _resolve_sink(values, sources)
    _check_detection(values, sources)
    seed = values.pop("seed")
    values["seed_given"] = seed is not None
    values["seed"] = seed if seed is not None else random.SystemRandom().randrange(2**32)
    if values.get("count") is not None and values.get("rate") is None:
        values["rate"] = 0.0

    core = {k: v for k, v in values.items() if k in _SETTINGS_FIELDS}
    extra = {k: v for k, v in values.items() if k not in _SETTINGS_FIELDS}
    return Settings(**core, extra=extra)


def _resolve_sink(values: dict[str, Any], sources: dict[str, str]) -> str:
    sink: str = values["sink"]
    token, org = values["deltastream_token"], values["deltastream_org_id"]
    bootstrap = values["kafka_bootstrap_servers"]
    if sink == "auto":
        if token is not None or org is not None:
            sink = "deltastream"
        elif bootstrap is not None:
            sink = "kafka"
        else:
            sink = "local"
        why = "credentials are set"
    else:
        why = f"{sources.get('sink', 'SINK')}={sink!r}"
    if sink == "deltastream":
        for name, env in (
            ("deltastream_token", "DELTASTREAM_TOKEN"),
            ("deltastream_org_id", "DELTASTREAM_ORG_ID"),
        ):
            if values[name] is None:
                raise ConfigError(
                    f"{env} is not set but the deltastream sink needs it ({why}); "
                    "allowed: set both DELTASTREAM_TOKEN and DELTASTREAM_ORG_ID, or use SINK=local"
                )
    if sink == "kafka" and bootstrap is None:
        raise ConfigError(
            f"KAFKA_BOOTSTRAP_SERVERS is not set but the kafka sink needs it ({why}); "
            "allowed: host:port[,host:port...], or use SINK=local"
        )
    return sink


# --- Kafka client properties: KAFKA_* variables and a properties file

KAFKA_ENV_PREFIX = "KAFKA_"
KAFKA_SHELL_VARIABLES = frozenset({"KAFKA_HOME", "KAFKA_OPTS"})
"""Variables of Kafka's own scripts (as is any ``KAFKA_*_OPTS``): never client properties."""
_SECRET_WORDS = ("password", "secret", "key", "token", "credential")
_SECRET_PROPERTIES = frozenset({"sasl.oauthbearer.config", "sasl.jaas.config"})
_PROPERTY_NAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
MASK = "********"


def is_secret_property(name: str) -> bool:
    """Whether a Kafka property's value must never be shown (passwords, keys, secrets)."""
    lowered = name.lower()
    return lowered in _SECRET_PROPERTIES or any(word in lowered for word in _SECRET_WORDS)


def kafka_property_name(variable: str) -> str:
    """The librdkafka property a ``KAFKA_*`` variable sets.

    As in Confluent's container images: after the prefix, ``_`` stands for
    ``.``, ``__`` for ``_`` and ``___`` for ``-``; ``KAFKA_SASL_USERNAME`` sets
    ``sasl.username``.
    """
    rest = variable[len(KAFKA_ENV_PREFIX) :].lower()
    return (
        rest.replace("___", "\0")
        .replace("__", "\1")
        .replace("_", ".")
        .replace("\0", "-")
        .replace("\1", "_")
    )


def shown_kafka_properties(settings: Settings) -> dict[str, str]:
    """The Kafka properties of a run as they may be displayed: secrets masked."""
    return {
        name: MASK if isinstance(value, Secret) else value
        for name, value in settings.kafka_properties.items()
    }


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every occurrence of a secret value replaced by a mask."""
    for value in sorted(set(secrets), key=len, reverse=True):
        if len(value) >= 4:
            text = text.replace(value, MASK)
        elif value:
            # A very short secret is only masked where it stands alone in quotes,
            # or every matching letter of the message would go.
            text = text.replace(f'"{value}"', f'"{MASK}"').replace(f"'{value}'", f"'{MASK}'")
    return text


_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def _unescape(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "u" and i + 6 <= len(text):
                try:
                    out.append(chr(int(text[i + 2 : i + 6], 16)))
                    i += 6
                    continue
                except ValueError:
                    pass
            out.append(_ESCAPES.get(nxt, nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _split_property(line: str) -> tuple[str, str]:
    # The name ends at the first unescaped '=', ':' or blank; one '=' or ':'
    # (with blanks around it) separates it from the value.
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\":
            i += 2
            continue
        if ch in "=: \t\f":
            break
        i += 1
    key = line[:i]
    rest = line[i:].lstrip(" \t\f")
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(" \t\f")
    return _unescape(key), _unescape(rest)


def _continues(line: str) -> bool:
    return (len(line) - len(line.rstrip("\\"))) % 2 == 1


def read_properties(path: Path) -> list[tuple[int, str, str]]:
    """Read a java-properties file: ``(line number, name, value)`` per property.

    Blank lines and ``#`` / ``!`` comments are skipped, a line ending in a
    backslash continues on the next, ``name=value``, ``name: value`` and
    ``name value`` all work. Error messages give line numbers, never values.

    Raises:
        ValueError: the file cannot be read, or a line is not a property.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ValueError("is not UTF-8 text") from None
    lines = text.splitlines()
    entries: list[tuple[int, str, str]] = []
    i = 0
    while i < len(lines):
        number = i + 1
        line = lines[i].lstrip(" \t\f")
        i += 1
        if not line or line[0] in "#!":
            continue
        while _continues(line) and i < len(lines):
            line = line[:-1] + lines[i].lstrip(" \t\f")
            i += 1
        if _continues(line):
            line = line[:-1]
        name, value = _split_property(line)
        if not name:
            raise ValueError(f"line {number} has no property name")
        if not set(name) <= _PROPERTY_NAME:
            raise ValueError(f"line {number} does not start with a property name")
        if not value.strip():
            raise ValueError(f"line {number}: property {name!r} has no value")
        entries.append((number, name, value.strip()))
    return entries


def _collect_kafka_properties(
    values: dict[str, Any],
    sources: dict[str, str],
    env: Mapping[str, str],
    dotenv_file: Mapping[str, str],
) -> None:
    """Gather librdkafka properties: ``.env`` < ``--kafka-config`` FILE < environment.

    ``bootstrap.servers`` from the file fills ``kafka_bootstrap_servers`` unless
    a flag or a variable set it; the options' own ``KAFKA_*`` names and Kafka's
    shell variables are not properties.
    """
    options = {opt.env for opt in OPTIONS if opt.env}
    props: dict[str, str] = {}
    where: dict[str, str] = {}

    def from_variables(variables: Mapping[str, str], label: str) -> None:
        for variable, raw in variables.items():
            if (
                not variable.startswith(KAFKA_ENV_PREFIX)
                or variable in options
                or variable in KAFKA_SHELL_VARIABLES
                or variable.endswith("_OPTS")
                or raw == ""
            ):
                continue
            name = kafka_property_name(variable)
            if name:
                props[name] = raw
                where[name] = variable + label

    from_variables(dotenv_file, " (.env)")
    path: Path | None = values.get("kafka_config")
    if path is not None:
        source = sources.get("kafka_config", "--kafka-config")
        try:
            entries = read_properties(path)
        except ValueError as exc:
            raise ConfigError(
                f"{source}={str(path)!r} {exc}; allowed: a properties file of name=value "
                "lines with librdkafka property names, '#' comments"
            ) from None
        for number, name, value in entries:
            props[name] = value
            where[name] = f"{path} line {number}"
    from_variables(env, "")

    bootstrap = props.pop("bootstrap.servers", None)
    bootstrap_where = where.pop("bootstrap.servers", None)
    given = sources.get("kafka_bootstrap_servers")
    # Only the file can supply it here (the variable is an option); it beats .env.
    if bootstrap is not None and (given is None or given.endswith("(.env)")):
        values["kafka_bootstrap_servers"] = bootstrap
        sources["kafka_bootstrap_servers"] = bootstrap_where or "--kafka-config"
    values["kafka_properties"] = {
        name: Secret(value) if is_secret_property(name) else value for name, value in props.items()
    }
    values["kafka_property_sources"] = where


def _check_detection(values: dict[str, Any], sources: dict[str, str]) -> None:
    detect: str = values["detect"]
    source = sources.get("detect", "DETECTION_SOURCE")
    if detect.startswith("kafka:") and values["kafka_bootstrap_servers"] is None:
        raise ConfigError(
            f"{source}={detect!r} reads a Kafka topic but KAFKA_BOOTSTRAP_SERVERS is not set; "
            "allowed: set KAFKA_BOOTSTRAP_SERVERS to the cluster holding the topic"
        )
    if detect.startswith("deltastream:") and (
        values["deltastream_token"] is None or values["deltastream_org_id"] is None
    ):
        raise ConfigError(
            f"{source} runs a DeltaStream query but DELTASTREAM_TOKEN or DELTASTREAM_ORG_ID is "
            "not set; allowed: set both, or use --detect builtin"
        )
