"""Kafka configuration: KAFKA_* variables, the properties file, topic options, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from defi_tui.config import (
    MASK,
    ConfigError,
    Secret,
    kafka_property_name,
    load_settings,
    redact,
    shown_kafka_properties,
)
from defi_tui.sinks.kafka import TopicPlan, client_properties

BOOT = ["--kafka-bootstrap-servers", "broker:9092"]


def load(argv: list[str], env: dict[str, str]) -> object:
    return load_settings(argv, env, dotenv=False)


@pytest.mark.parametrize(
    ("variable", "prop"),
    [
        ("KAFKA_SECURITY_PROTOCOL", "security.protocol"),
        ("KAFKA_SASL_USERNAME", "sasl.username"),
        ("KAFKA_SSL_CA_LOCATION", "ssl.ca.location"),
        ("KAFKA_ENABLE_SSL__CERTIFICATE_VERIFICATION", "enable.ssl_certificate.verification"),
        ("KAFKA_CLIENT___RACK", "client-rack"),
    ],
)
def test_a_kafka_variable_names_its_librdkafka_property(variable: str, prop: str) -> None:
    assert kafka_property_name(variable) == prop


def test_kafka_variables_become_client_properties_and_the_rest_is_left_alone() -> None:
    settings = load_settings(
        BOOT,
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISMS": "PLAIN",
            "KAFKA_SASL_USERNAME": "svc-generator",
            "KAFKA_SASL_PASSWORD": "s3cr3t-pass",
            "KAFKA_HOME": "/opt/kafka",  # Kafka's own scripts, not client properties
            "KAFKA_HEAP_OPTS": "-Xmx1g",
            "KAFKA_TOPIC_PREFIX": "dev.",  # an option of ours, not a property
            "KAFKA_LINGER_MS": "",  # empty means unset
            "PATH": "/usr/bin",
        },
        dotenv=False,
    )
    assert settings.sink == "kafka"
    assert set(settings.kafka_properties) == {
        "security.protocol",
        "sasl.mechanisms",
        "sasl.username",
        "sasl.password",
    }
    assert settings.kafka_properties["sasl.username"] == "svc-generator"
    assert settings.kafka_property_sources["sasl.password"] == "KAFKA_SASL_PASSWORD"
    assert settings.extra["topic_prefix"] == "dev."
    client = client_properties(settings)
    assert client["bootstrap.servers"] == "broker:9092"
    assert client["sasl.password"] == "s3cr3t-pass"  # revealed only for the client


def test_secrets_are_masked_in_the_settings_and_anything_shown() -> None:
    settings = load_settings(
        BOOT,
        {
            "KAFKA_SASL_PASSWORD": "s3cr3t-pass",
            "KAFKA_SSL_KEY_PASSWORD": "keypass",
            "KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET": "oauth-secret",
            "KAFKA_SSL_KEY_PEM": "-----BEGIN KEY-----",
            "KAFKA_SASL_USERNAME": "svc",
        },
        dotenv=False,
    )
    for name in (
        "sasl.password",
        "ssl.key.password",
        "sasl.oauthbearer.client.secret",
        "ssl.key.pem",
    ):
        assert isinstance(settings.kafka_properties[name], Secret)
    text = repr(settings) + str(shown_kafka_properties(settings))
    for secret in ("s3cr3t-pass", "keypass", "oauth-secret", "BEGIN KEY"):
        assert secret not in text
    assert shown_kafka_properties(settings)["sasl.password"] == MASK
    assert shown_kafka_properties(settings)["sasl.username"] == "svc"


def test_redact_masks_every_occurrence_and_short_secrets_only_when_quoted() -> None:
    assert (
        redact("auth failed for s3cr3t (s3cr3t)", ["s3cr3t"]) == f"auth failed for {MASK} ({MASK})"
    )
    assert redact('bad value "ab" in "cab"', ["ab"]) == f'bad value "{MASK}" in "cab"'


def test_properties_file_in_java_style(tmp_path: Path) -> None:
    path = tmp_path / "client.properties"
    path.write_text(
        "# Confluent Cloud\n"
        "! another comment\n"
        "\n"
        "bootstrap.servers=pkc-123.example.cloud:9092\n"
        "security.protocol = SASL_SSL\n"
        "sasl.mechanisms: PLAIN\n"
        "sasl.username   APIKEY\n"
        "sasl.password=abc\\\n"
        "    def\n"
        "client.id=gen\\u0031\n"
    )
    settings = load_settings(["--kafka-config", str(path)], {}, dotenv=False)
    # The file's bootstrap.servers is enough for SINK=auto to pick kafka.
    assert settings.sink == "kafka"
    assert settings.kafka_bootstrap_servers == "pkc-123.example.cloud:9092"
    props = settings.kafka_properties
    assert props["security.protocol"] == "SASL_SSL"
    assert props["sasl.mechanisms"] == "PLAIN"
    assert props["sasl.username"] == "APIKEY"
    assert props["sasl.password"] == Secret("abcdef")
    assert props["client.id"] == "gen1"
    assert settings.kafka_property_sources["sasl.username"] == f"{path} line 7"


def test_environment_overrides_the_file_which_overrides_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "client.properties"
    path.write_text("bootstrap.servers=from-file:9092\nlinger.ms=10\nacks=1\n")
    (tmp_path / ".env").write_text(
        "KAFKA_BOOTSTRAP_SERVERS=from-dotenv:9092\nKAFKA_ACKS=0\nKAFKA_CLIENT_ID=dotenv\n"
    )
    settings = load_settings(["--kafka-config", str(path)], {"KAFKA_LINGER_MS": "50"}, dotenv=True)
    assert settings.kafka_bootstrap_servers == "from-file:9092"
    assert dict(settings.kafka_properties) == {
        "linger.ms": "50",
        "acks": "1",
        "client.id": "dotenv",
    }
    flagged = load_settings(
        ["--kafka-config", str(path), "--kafka-bootstrap-servers", "from-flag:9092"],
        {"KAFKA_BOOTSTRAP_SERVERS": "from-env:9092"},
        dotenv=True,
    )
    assert flagged.kafka_bootstrap_servers == "from-flag:9092"
    env = load_settings(
        ["--kafka-config", str(path)], {"KAFKA_BOOTSTRAP_SERVERS": "from-env:9092"}, dotenv=True
    )
    assert env.kafka_bootstrap_servers == "from-env:9092"


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("=value\n", "line 1 has no property name"),
        ("ok=1\nsasl.password\n", "line 2: property 'sasl.password' has no value"),
        ("sasl.password=hunter2\n\n: hunter2\n", "line 3 has no property name"),
        ("ok=1\n€uro=1\n", "line 2 does not start with a property name"),
    ],
)
def test_a_bad_properties_file_is_one_line_naming_the_line_never_the_value(
    tmp_path: Path, content: str, why: str
) -> None:
    path = tmp_path / "bad.properties"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_settings(["--kafka-config", str(path)], {}, dotenv=False)
    message = str(caught.value)
    assert message.startswith(f"--kafka-config={str(path)!r} ")
    assert "allowed: a properties file of name=value lines" in message
    assert "\n" not in message
    assert why in message
    assert "hunter2" not in message


def test_an_unreadable_properties_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^KAFKA_CONFIG_FILE='.*missing' cannot be read"):
        load_settings([], {"KAFKA_CONFIG_FILE": str(tmp_path / "missing")}, dotenv=False)
    with pytest.raises(ConfigError, match=r"is a directory; allowed: a readable properties file"):
        load_settings(["--kafka-config", str(tmp_path)], {}, dotenv=False)


def test_topic_options_rename_prefix_and_size_the_topics() -> None:
    settings = load_settings(
        [
            *BOOT,
            "--topic-prefix",
            "lab.",
            "--topic-prices",
            "prices.v2",
            "--topic-partitions",
            "12",
        ],
        {"KAFKA_TOPIC_REPLICATION_FACTOR": "3", "KAFKA_SETUP_TIMEOUT": "2.5"},
        dotenv=False,
    )
    plan = TopicPlan.from_settings(settings)
    assert dict(plan.names) == {
        "onchain_transactions": "lab.onchain_transactions",
        "dex_prices": "lab.prices.v2",
        "mempool_data": "lab.mempool_data",
    }
    assert (plan.partitions, plan.replication, plan.setup_timeout) == (12, 3, 2.5)
    assert TopicPlan.from_settings(load_settings(BOOT, {}, dotenv=False)).partitions == 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--topic-prices", "dex prices"],
            "--topic-prices='dex prices' has characters Kafka does not allow in a topic name",
        ),
        (["--topic-mempool", "x" * 250], "is longer than 249 characters"),
        (["--topic-prefix", "a/b"], "--topic-prefix='a/b' has characters"),
        (["--topic-partitions", "0"], "--topic-partitions='0' must be greater than 0"),
        (["--kafka-setup-timeout", "soon"], "--kafka-setup-timeout='soon' is not a number"),
    ],
)
def test_bad_topic_options_are_one_line(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings([*BOOT, *argv], {}, dotenv=False)
    assert message in str(caught.value)
    assert "allowed:" in str(caught.value)
