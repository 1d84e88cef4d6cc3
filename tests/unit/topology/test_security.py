"""Kafka TLS and SASL settings reach every Kafka client alike, Redis TLS settings reach the
store, and no password shows in a repr, an error or the start-up log line.

The embedded broker (tansu 0.6) cannot serve TLS or SASL to a client (see
docs/operations.md, "Security"), so these check the options each client is built with."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import ValidationError

from tcnad.state.memory import MemoryCacheStore
from tcnad.topology import kafka_io
from tcnad.topology.security import KafkaSecurity, error_text, redact_url
from tcnad.topology.settings import Settings
from tcnad.topology.worker import app as worker_app
from tests.tls_certs import TlsFiles, make_tls_files

from .fakes import LAYOUT, FakeDetector

PASSWORD = "kafka-pw-4f1d"
REDIS_PASSWORD = "redis-pw-9c2e"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


@pytest.fixture(autouse=True)
def _no_security_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SECURITY_PROTOCOL",
        "SASL_MECHANISM",
        "SASL_USERNAME",
        "SASL_PASSWORD",
        "SSL_CAFILE",
        "SSL_CERTFILE",
        "SSL_KEYFILE",
    ):
        monkeypatch.delenv(f"TCNAD_KAFKA_{name}", raising=False)
    monkeypatch.delenv("TCNAD_REDIS_CA_FILE", raising=False)


def sasl_ssl(tls: TlsFiles, **more: Any) -> Settings:
    return Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="tcnad",
        kafka_sasl_password=PASSWORD,
        kafka_ssl_cafile=str(tls.ca),
        **more,
    )


def every_protocol(tls: TlsFiles) -> Iterator[Settings]:
    yield Settings()
    yield Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=str(tls.ca))
    yield Settings(
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=str(tls.ca),
        kafka_ssl_certfile=str(tls.cert),
        kafka_ssl_keyfile=str(tls.key),
    )
    yield Settings(
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="PLAIN",
        kafka_sasl_username="tcnad",
        kafka_sasl_password=PASSWORD,
    )
    yield sasl_ssl(tls)


def comparable(options: Mapping[str, Any]) -> dict[str, Any]:
    """Options with the SSL context replaced by what it verifies against."""
    out = dict(options)
    context = out.pop("ssl_context", None)
    if context is not None:
        assert isinstance(context, ssl.SSLContext)
        out["ssl"] = (
            context.verify_mode,
            context.check_hostname,
            sorted(str(c["subject"]) for c in context.get_ca_certs()),
        )
    return out


def test_plaintext_is_the_default_and_adds_nothing() -> None:
    s = Settings()
    assert s.kafka_client_options() == {"security_protocol": "PLAINTEXT"}
    assert s.faust_broker_credentials() is None
    assert worker_app.faust_options(s)["broker_credentials"] is None
    assert s.redis_client_kwargs() == {}


def test_settings_read_the_security_variables(
    tls: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TCNAD_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("TCNAD_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256")
    monkeypatch.setenv("TCNAD_KAFKA_SASL_USERNAME", "tcnad")
    monkeypatch.setenv("TCNAD_KAFKA_SASL_PASSWORD", PASSWORD)
    monkeypatch.setenv("TCNAD_KAFKA_SSL_CAFILE", str(tls.ca))
    for s in (Settings(), KafkaSecurity()):
        options = s.kafka_client_options()
        context = options.pop("ssl_context")
        assert options == {
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": "SCRAM-SHA-256",
            "sasl_plain_username": "tcnad",
            "sasl_plain_password": PASSWORD,
        }
        # the brokers' certificates are verified against the CA file, host names checked
        assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
        assert [c["subject"] for c in context.get_ca_certs()] == [
            ((("commonName", "tcnad test CA"),),)
        ]


def test_ssl_without_a_ca_file_trusts_the_system_cas() -> None:
    context = Settings(kafka_security_protocol="SSL").kafka_client_options()["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            {"kafka_security_protocol": "SASL_SSL"},
            "SASL_SSL needs TCNAD_KAFKA_SASL_MECHANISM, TCNAD_KAFKA_SASL_USERNAME, "
            "TCNAD_KAFKA_SASL_PASSWORD",
        ),
        (
            {
                "kafka_security_protocol": "SASL_PLAINTEXT",
                "kafka_sasl_mechanism": "PLAIN",
                "kafka_sasl_username": "u",
            },
            "SASL_PLAINTEXT needs TCNAD_KAFKA_SASL_PASSWORD",
        ),
        (
            {"kafka_sasl_username": "u", "kafka_sasl_password": "p"},
            "TCNAD_KAFKA_SASL_USERNAME, TCNAD_KAFKA_SASL_PASSWORD set but PLAINTEXT does not "
            "use SASL",
        ),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_cafile": "/nowhere/ca.pem"},
            "TCNAD_KAFKA_SSL_CAFILE '/nowhere/ca.pem' is not a file",
        ),
        (
            {"kafka_ssl_cafile": "/nowhere/ca.pem"},
            "TCNAD_KAFKA_SSL_CAFILE set but PLAINTEXT does not use TLS",
        ),
        ({"kafka_security_protocol": "TLS"}, "kafka_security_protocol"),
        (
            {
                "kafka_security_protocol": "SASL_PLAINTEXT",
                "kafka_sasl_mechanism": "GSSAPI",
                "kafka_sasl_username": "u",
                "kafka_sasl_password": "p",
            },
            "kafka_sasl_mechanism",
        ),
    ],
)
def test_bad_combinations_are_refused_with_one_message(
    given: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ValidationError) as info:
        Settings(**given)
    assert len(info.value.errors()) == 1
    assert expected in error_text(info.value)


def test_a_key_file_needs_its_certificate(tls: TlsFiles) -> None:
    with pytest.raises(ValidationError, match="KEYFILE needs TCNAD_KAFKA_SSL_CERTFILE"):
        Settings(kafka_security_protocol="SSL", kafka_ssl_keyfile=str(tls.key))


def test_faust_derives_the_same_aiokafka_options_as_the_other_clients(tls: TlsFiles) -> None:
    for s in every_protocol(tls):
        credentials = worker_app.faust_options(s)["broker_credentials"]
        assert comparable(credentials_to_aiokafka_auth(credentials)) == comparable(
            s.kafka_client_options()
        ), s.kafka_security_protocol


class Recorded(Exception):
    """Raised by a recording client instead of connecting."""


class Recorder:
    """Stands in for an aiokafka client class: records its keyword arguments."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Recorder:
        self.calls.append(kwargs)
        return self

    async def start(self) -> None:
        raise Recorded

    async def stop(self) -> None:
        return None

    async def close(self) -> None:
        return None


async def test_every_aiokafka_client_gets_the_security_options(
    tls: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients = Recorder()
    for module, name in (
        (kafka_io, "AIOKafkaConsumer"),
        (kafka_io, "AIOKafkaProducer"),
        (kafka_io, "AIOKafkaAdminClient"),
    ):
        monkeypatch.setattr(module, name, clients)
    s = sasl_ssl(tls)
    with pytest.raises((Recorded, kafka_io.KafkaIOError)):
        await kafka_io.ensure_topics("k:9092", {"readings": 1}, security=s)
    with pytest.raises((Recorded, kafka_io.KafkaIOError)):
        await kafka_io.topic_partitions("k:9092", "readings", security=s)
    with pytest.raises((Recorded, kafka_io.KafkaIOError)):
        await kafka_io.BatchProducer("k:9092", "readings", security=s).start()
    with pytest.raises(Recorded):
        await anext(kafka_io.tail("k:9092", "alerts", security=s))
    expected = comparable(s.kafka_client_options())
    assert len(clients.calls) == 4
    for kwargs in clients.calls:
        assert {k: v for k, v in comparable(kwargs).items() if k in expected} == expected


async def test_the_workers_own_consumer_and_producer_get_them_too(tls: TlsFiles) -> None:
    s = sasl_ssl(tls, metrics_enabled=False)
    app = worker_app.create_app(s, detector=FakeDetector(), store=MemoryCacheStore(LAYOUT))
    expected = comparable(s.kafka_client_options())
    consumer = app.consumer._new_consumer_thread()._create_worker_consumer(app.transport)
    client = consumer._client
    got = {
        "security_protocol": client._security_protocol,
        "ssl_context": client._ssl_context,
        "sasl_mechanism": client._sasl_mechanism,
        "sasl_plain_username": client._sasl_plain_username,
        "sasl_plain_password": client._sasl_plain_password,
    }
    assert comparable(got) == expected
    producer_auth = app.producer._settings_auth()
    assert comparable(producer_auth) == expected


def test_no_password_in_reprs_or_errors(tls: TlsFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    s = sasl_ssl(tls, redis_url=f"redis://tcnad:{REDIS_PASSWORD}@redis:6379/0")
    for text in (repr(s), str(s), repr(s.faust_broker_credentials()), s.kafka_security_summary()):
        assert PASSWORD not in text and REDIS_PASSWORD not in text
    assert PASSWORD not in s.model_dump_json()  # a SecretStr dumps masked (the URL does not)
    assert "redis://tcnad:***@redis:6379/0" in repr(s)
    monkeypatch.setenv("TCNAD_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("TCNAD_KAFKA_SASL_PASSWORD", PASSWORD)
    monkeypatch.setenv("TCNAD_REDIS_URL", f"redis://:{REDIS_PASSWORD}@redis:6379/0")
    with pytest.raises(ValidationError) as info:
        Settings()
    for text in (str(info.value), error_text(info.value)):
        assert "TCNAD_KAFKA_SASL_MECHANISM" in text
        assert PASSWORD not in text and REDIS_PASSWORD not in text


def test_the_start_up_log_line_hides_the_passwords(
    tls: TlsFiles, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"rediss://tcnad:{REDIS_PASSWORD}@redis:6380/0"
    s = sasl_ssl(tls, redis_url=url, redis_ca_file=str(tls.ca), metrics_enabled=False)
    with caplog.at_level(logging.INFO, logger="tcnad.topology.worker.app"):
        worker_app.create_app(s, detector=FakeDetector(), store=MemoryCacheStore(LAYOUT))
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("kafka="))
    assert "SASL_SSL SCRAM-SHA-512 user=tcnad" in line
    assert "rediss://tcnad:***@redis:6380/0" in line and str(tls.ca) in line
    assert PASSWORD not in caplog.text and REDIS_PASSWORD not in caplog.text


def test_redact_url_keeps_everything_but_the_password() -> None:
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert redact_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert redact_url("rediss://user:p%40ss@h:1/2?ssl_ca_certs=/ca.pem") == (
        "rediss://user:***@h:1/2?ssl_ca_certs=/ca.pem"
    )
    assert redact_url("redis://user@h:1/0") == "redis://user@h:1/0"


def test_redact_url_hides_a_password_given_as_a_query_parameter() -> None:
    assert redact_url("redis://h:1/0?password=hunter2") == "redis://h:1/0?password=***"
    assert redact_url("redis://h:1/0?socket_timeout=5&PASSWORD=hunter2&db=1") == (
        "redis://h:1/0?socket_timeout=5&PASSWORD=***&db=1"
    )
    both = redact_url("rediss://u:pw@h:1/0?password=hunter2&ssl_ca_certs=/ca.pem")
    assert both == "rediss://u:***@h:1/0?password=***&ssl_ca_certs=/ca.pem"
    assert "hunter2" not in redact_url("redis://h:1/0?password=hunter2&password=again2")
    assert "again2" not in redact_url("redis://h:1/0?password=hunter2&password=again2")


def test_the_redis_ca_file_goes_to_the_store_and_needs_rediss(tls: TlsFiles) -> None:
    s = Settings(redis_url="rediss://redis:6380/0", redis_ca_file=str(tls.ca))
    assert s.redis_client_kwargs() == {"ssl_ca_certs": str(tls.ca)}
    store = worker_app.create_store(s, LAYOUT)
    assert store.client.connection_pool.connection_kwargs["ssl_ca_certs"] == str(tls.ca)
    with pytest.raises(ValidationError, match="TCNAD_REDIS_CA_FILE needs a rediss:// URL"):
        Settings(redis_url=f"redis://:{REDIS_PASSWORD}@redis:6379/0", redis_ca_file=str(tls.ca))
    with pytest.raises(ValidationError, match="is not a file"):
        Settings(redis_url="rediss://redis:6380/0", redis_ca_file=str(Path("/nowhere/ca.pem")))


@pytest.mark.parametrize("command", ["produce", "alerts"])
def test_the_cli_tools_refuse_bad_security_settings(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tcnad.topology.cli import build_parser, main
    from tcnad.topology.cli.main import BadSetting

    monkeypatch.setenv("TCNAD_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("TCNAD_KAFKA_SASL_PASSWORD", PASSWORD)
    assert main([command]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tcnad")
    assert "SASL_SSL needs TCNAD_KAFKA_SASL_MECHANISM" in err and PASSWORD not in err
    args = build_parser().parse_args([command])  # the command itself checks them too
    with pytest.raises(BadSetting, match="SASL_SSL needs TCNAD_KAFKA_SASL_MECHANISM") as info:
        args.func(args)
    assert PASSWORD not in str(info.value)
