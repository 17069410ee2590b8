"""Kafka connection security (TLS, SASL), from the environment, for every Kafka client.

One model, read once from ``STREAMROUTER_KAFKA_*`` and checked loudly, gives the same
settings to the Faust worker (``broker_credentials``) and to the plain aiokafka clients
(``StreamClient``, the topic admin), so they can never disagree about how to connect:

    STREAMROUTER_KAFKA_SECURITY_PROTOCOL   PLAINTEXT | SSL | SASL_PLAINTEXT | SASL_SSL
    STREAMROUTER_KAFKA_SASL_MECHANISM      PLAIN | SCRAM-SHA-256 | SCRAM-SHA-512
    STREAMROUTER_KAFKA_SASL_USERNAME
    STREAMROUTER_KAFKA_SASL_PASSWORD       never logged (a SecretStr)
    STREAMROUTER_KAFKA_SSL_CAFILE          PEM CA bundle (default: the system's CAs)
    STREAMROUTER_KAFKA_SSL_CERTFILE        client certificate, for mutual TLS
    STREAMROUTER_KAFKA_SSL_KEYFILE         its private key

A setting that the chosen protocol would ignore (a SASL password over ``SSL``, a CA file
over ``PLAINTEXT``) is an error, not a silent no-op: it is almost always a typo in the
protocol, and connecting without the security the operator asked for is the worst outcome.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from aiokafka.helpers import create_ssl_context
from pydantic import SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streamrouter.errors import ConfigError

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

__all__ = ["KafkaSecurity", "SaslMechanism", "SecurityProtocol", "load_kafka_security"]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSecurity(BaseSettings):
    """How every Kafka client of the service authenticates and encrypts."""

    model_config = SettingsConfigDict(
        env_prefix="STREAMROUTER_KAFKA_",
        frozen=True,
        extra="ignore",
        # A Helm chart or a compose file often sets a variable to "" to mean "unset".
        env_ignore_empty=True,
    )

    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    @field_validator("security_protocol", mode="before")
    @classmethod
    def _normalise_protocol(cls, value: object) -> object:
        return value.strip().upper().replace("-", "_") if isinstance(value, str) else value

    @field_validator("sasl_mechanism", mode="before")
    @classmethod
    def _normalise_mechanism(cls, value: object) -> object:
        return value.strip().upper().replace("_", "-") if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_consistent(self) -> KafkaSecurity:
        problems: list[str] = []
        sasl_fields = {
            "SASL_MECHANISM": self.sasl_mechanism,
            "SASL_USERNAME": self.sasl_username,
            "SASL_PASSWORD": self.sasl_password,
        }
        if self.uses_sasl:
            missing = [name for name, value in sasl_fields.items() if not value]
            if missing:
                problems.append(
                    f"{self.security_protocol} needs "
                    + ", ".join(f"STREAMROUTER_KAFKA_{name}" for name in missing)
                )
        else:
            given = [name for name, value in sasl_fields.items() if value]
            if given:
                problems.append(
                    ", ".join(f"STREAMROUTER_KAFKA_{name}" for name in given)
                    + f" set but STREAMROUTER_KAFKA_SECURITY_PROTOCOL is {self.security_protocol}"
                    " (use SASL_SSL or SASL_PLAINTEXT)"
                )
        ssl_files = {
            "SSL_CAFILE": self.ssl_cafile,
            "SSL_CERTFILE": self.ssl_certfile,
            "SSL_KEYFILE": self.ssl_keyfile,
        }
        if self.uses_ssl:
            for name, path in ssl_files.items():
                if path is not None and not path.is_file():
                    problems.append(f"STREAMROUTER_KAFKA_{name}={path} is not a readable file")
            if self.ssl_keyfile is not None and self.ssl_certfile is None:
                problems.append(
                    "STREAMROUTER_KAFKA_SSL_KEYFILE needs STREAMROUTER_KAFKA_SSL_CERTFILE"
                )
        else:
            given = [name for name, value in ssl_files.items() if value is not None]
            if given:
                problems.append(
                    ", ".join(f"STREAMROUTER_KAFKA_{name}" for name in given)
                    + f" set but STREAMROUTER_KAFKA_SECURITY_PROTOCOL is {self.security_protocol}"
                    " (use SSL or SASL_SSL)"
                )
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @property
    def uses_ssl(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client TLS context (hostname checked), or None without TLS."""
        if not self.uses_ssl:
            return None
        try:
            return create_ssl_context(
                cafile=self.ssl_cafile,
                certfile=self.ssl_certfile,
                keyfile=self.ssl_keyfile,
            )
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"cannot load the Kafka TLS files: {exc}") from exc

    def faust_credentials(self) -> CredentialsT | None:
        """Faust's ``broker_credentials``: None for PLAINTEXT."""
        # Imported here: faust.auth loads Faust's types (aiohttp, mode), and the plain
        # clients (``streamrouter send``, ``tail``, ``topics``) need none of them.
        from faust.auth import SASLCredentials, SSLCredentials

        context = self.ssl_context()
        if self.uses_sasl:
            assert self.sasl_password is not None  # checked by the validator
            return SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password.get_secret_value(),
                mechanism=self.sasl_mechanism,
                ssl_context=context,  # SASL_SSL when given, SASL_PLAINTEXT when None
            )
        if context is not None:
            return SSLCredentials(context)
        return None

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient.

        The result holds the SASL password in clear: pass it on, never log it.
        """
        kwargs: dict[str, Any] = {"security_protocol": self.security_protocol}
        context = self.ssl_context()
        if context is not None:
            kwargs["ssl_context"] = context
        if self.uses_sasl:
            assert self.sasl_password is not None
            kwargs["sasl_mechanism"] = self.sasl_mechanism
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password.get_secret_value()
        return kwargs

    def describe(self) -> str:
        """One line for logs: protocol, mechanism, user; never the password."""
        parts = [self.security_protocol]
        if self.uses_sasl:
            parts.append(f"{self.sasl_mechanism} as {self.sasl_username}")
        if self.uses_ssl:
            parts.append(f"CA {self.ssl_cafile or 'system'}")
            if self.ssl_certfile:
                parts.append(f"client cert {self.ssl_certfile}")
        return ", ".join(parts)


def load_kafka_security() -> KafkaSecurity:
    """The Kafka security settings from the environment, or ConfigError saying what is wrong."""
    try:
        return KafkaSecurity()
    except ValidationError as exc:
        raise ConfigError(f"invalid STREAMROUTER_KAFKA_* settings: {_errors(exc)}") from exc


def _errors(exc: ValidationError) -> str:
    # Not str(exc): pydantic echoes the input, and an input may be the SASL password.
    messages = []
    for error in exc.errors(include_input=False, include_url=False):
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        messages.append(f"{where}: {message}" if where else message)
    return "; ".join(messages)
