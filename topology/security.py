"""How the worker and the command line tools authenticate to Kafka and Redis, and how their
secrets stay out of logs and reprs.

``KafkaSecurity`` holds the ``TCNAD_KAFKA_SECURITY_*``, ``_SASL_*`` and ``_SSL_*`` settings and
builds the options of every Kafka client from them, in one place: ``kafka_client_options()``
for aiokafka (the admin client that declares topics, ``tcnad produce``, ``tcnad alerts``) and
``faust_broker_credentials()`` for the worker's faust app, whose own consumer and producer
turn them into the same aiokafka options. ``RedisSecurity`` adds ``TCNAD_REDIS_CA_FILE``, the
certificate authority of a ``rediss://`` Redis. ``Settings`` inherits both; the command line
tools read ``KafkaSecurity()`` alone from the environment.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

_TLS_PROTOCOLS = ("SSL", "SASL_SSL")
_SASL_PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL")
REDACTED = "***"


# Query parameters that carry a secret (redis-py takes ``?password=...`` as the password).
SECRET_QUERY_KEYS = frozenset({"password", "pass", "passwd", "secret", "token"})


def redact_url(url: str) -> str:
    """``url`` with its password (if any), in the user part or as a query parameter such as
    ``?password=``, replaced by ``***``; user, host, path and other parameters kept."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if password:
        user = parts.username or ""
        host = parts.netloc.rpartition("@")[2]
        parts = parts._replace(netloc=f"{user}:{REDACTED}@{host}")
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if any(k.lower() in SECRET_QUERY_KEYS for k, _ in pairs):
        query = "&".join(
            f"{quote(k, safe='')}="
            + (REDACTED if k.lower() in SECRET_QUERY_KEYS else quote(v, safe="/:,"))
            for k, v in pairs
        )
        parts = parts._replace(query=query)
    elif not password:
        return url
    return urlunsplit(parts)


def error_text(exc: ValidationError) -> str:
    """The messages of a settings ``ValidationError`` on one line, without input values
    (they may hold secrets)."""
    return "; ".join(
        ".".join(map(str, e["loc"])) + ": " + e["msg"]
        if e["loc"]
        else e["msg"].removeprefix("Value error, ")
        for e in exc.errors()
    )


def _missing_files(named: dict[str, str]) -> list[str]:
    return [
        f"{name} {path!r} is not a file"
        for name, path in named.items()
        if path and not Path(path).is_file()
    ]


class KafkaSecurity(BaseSettings):
    """TLS and SASL of the Kafka clients; each field reads ``TCNAD_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="TCNAD_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    kafka_security_protocol: SecurityProtocol = Field(
        "PLAINTEXT", description="PLAINTEXT, SSL (TLS), SASL_PLAINTEXT or SASL_SSL"
    )
    kafka_sasl_mechanism: SaslMechanism | None = Field(
        None, description="PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL_* protocols)"
    )
    kafka_sasl_username: str = Field("", description="SASL user name")
    kafka_sasl_password: SecretStr | None = Field(
        None, description="SASL password; never shown in logs, reprs or /health"
    )
    kafka_ssl_cafile: str = Field(
        "", description="CA bundle that signed the brokers' certificates (empty = system CAs)"
    )
    kafka_ssl_certfile: str = Field("", description="client certificate (mutual TLS)")
    kafka_ssl_keyfile: str = Field("", description="client certificate's private key")

    @model_validator(mode="after")
    def _kafka_security(self) -> Self:
        problems = self.kafka_security_problems()
        if problems:
            raise ValueError(
                f"Kafka security (TCNAD_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol}): "
                + "; ".join(problems)
            )
        return self

    def kafka_security_problems(self) -> list[str]:
        """What is wrong with the combination of security settings (empty when fine)."""
        protocol = self.kafka_security_protocol
        problems: list[str] = []
        if protocol in _SASL_PROTOCOLS:
            missing = [
                f"TCNAD_KAFKA_SASL_{name.upper()}"
                for name, value in (
                    ("mechanism", self.kafka_sasl_mechanism),
                    ("username", self.kafka_sasl_username),
                    ("password", self.kafka_sasl_password),
                )
                if not value or (isinstance(value, SecretStr) and not value.get_secret_value())
            ]
            if missing:
                problems.append(f"{protocol} needs {', '.join(missing)}")
        else:
            given = [
                f"TCNAD_KAFKA_SASL_{name.upper()}"
                for name, value in (
                    ("mechanism", self.kafka_sasl_mechanism),
                    ("username", self.kafka_sasl_username),
                    ("password", self.kafka_sasl_password),
                )
                if value
            ]
            if given:
                problems.append(f"{', '.join(given)} set but {protocol} does not use SASL")
        files = {
            "TCNAD_KAFKA_SSL_CAFILE": self.kafka_ssl_cafile,
            "TCNAD_KAFKA_SSL_CERTFILE": self.kafka_ssl_certfile,
            "TCNAD_KAFKA_SSL_KEYFILE": self.kafka_ssl_keyfile,
        }
        if protocol in _TLS_PROTOCOLS:
            problems += _missing_files(files)
            if self.kafka_ssl_keyfile and not self.kafka_ssl_certfile:
                problems.append("TCNAD_KAFKA_SSL_KEYFILE needs TCNAD_KAFKA_SSL_CERTFILE")
        else:
            given_files = [name for name, path in files.items() if path]
            if given_files:
                problems.append(f"{', '.join(given_files)} set but {protocol} does not use TLS")
        return problems

    def kafka_ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of the SSL protocols (server certificates verified against the CA
        file, else the system's CAs, and their host names checked); None without TLS."""
        if self.kafka_security_protocol not in _TLS_PROTOCOLS:
            return None
        from aiokafka.helpers import create_ssl_context

        context: ssl.SSLContext = create_ssl_context(
            cafile=self.kafka_ssl_cafile or None,
            certfile=self.kafka_ssl_certfile or None,
            keyfile=self.kafka_ssl_keyfile or None,
        )
        return context

    def kafka_client_options(self) -> dict[str, Any]:
        """Keyword arguments for every aiokafka client (producer, consumer, admin)."""
        options: dict[str, Any] = {"security_protocol": self.kafka_security_protocol}
        context = self.kafka_ssl_context()
        if context is not None:
            options["ssl_context"] = context
        if self.kafka_security_protocol in _SASL_PROTOCOLS:
            assert self.kafka_sasl_password is not None  # validated
            options["sasl_mechanism"] = self.kafka_sasl_mechanism
            options["sasl_plain_username"] = self.kafka_sasl_username
            options["sasl_plain_password"] = self.kafka_sasl_password.get_secret_value()
        return options

    def faust_broker_credentials(self) -> CredentialsT | None:
        """faust's ``broker_credentials``: faust's consumer and producer derive from them
        the same aiokafka options as ``kafka_client_options()``. None for PLAINTEXT."""
        import faust

        protocol = self.kafka_security_protocol
        if protocol == "PLAINTEXT":
            return None
        context = self.kafka_ssl_context()
        if protocol == "SSL":
            assert context is not None
            return faust.SSLCredentials(context)
        assert self.kafka_sasl_password is not None  # validated
        return faust.SASLCredentials(
            username=self.kafka_sasl_username,
            password=self.kafka_sasl_password.get_secret_value(),
            ssl_context=context,
            mechanism=self.kafka_sasl_mechanism,
        )

    def kafka_security_summary(self) -> str:
        """One line for logs: protocol, mechanism, user and files; never the password."""
        parts: list[str] = [self.kafka_security_protocol]
        if self.kafka_security_protocol in _SASL_PROTOCOLS:
            parts.append(f"{self.kafka_sasl_mechanism} user={self.kafka_sasl_username}")
        if self.kafka_security_protocol in _TLS_PROTOCOLS:
            parts.append(f"ca={self.kafka_ssl_cafile or 'system'}")
            if self.kafka_ssl_certfile:
                parts.append(f"cert={self.kafka_ssl_certfile}")
        return " ".join(parts)


class RedisSecurity(BaseSettings):
    """TLS of the Redis connection beyond what its URL says; reads ``TCNAD_REDIS_CA_FILE``.

    The password and ACL user travel in the URL (``redis://user:password@host:port/0``),
    TLS with the scheme ``rediss://``."""

    model_config = SettingsConfigDict(
        env_prefix="TCNAD_", frozen=True, extra="ignore", hide_input_in_errors=True
    )

    redis_ca_file: str = Field(
        "",
        description="CA bundle that signed a rediss:// server's certificate (empty = system CAs)",
    )

    @model_validator(mode="after")
    def _redis_security(self) -> Self:
        if not self.redis_ca_file:
            return self
        problems = _missing_files({"TCNAD_REDIS_CA_FILE": self.redis_ca_file})
        url = getattr(self, "redis_url", None)
        if isinstance(url, str) and not url.startswith("rediss://"):
            problems.append(f"TCNAD_REDIS_CA_FILE needs a rediss:// URL, got {redact_url(url)}")
        if problems:
            raise ValueError("Redis security: " + "; ".join(problems))
        return self

    def redis_client_kwargs(self) -> dict[str, Any]:
        """Extra keyword arguments of redis-py's ``Redis.from_url`` (the URL's own query
        options, such as ``ssl_ca_certs``, take precedence)."""
        return {"ssl_ca_certs": self.redis_ca_file} if self.redis_ca_file else {}

    def __repr_args__(self) -> Any:
        # Reprs and str() show URLs (TCNAD_REDIS_URL) without their passwords; SecretStr
        # fields mask themselves.
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if isinstance(value, str) and "@" in value else value
