"""Kafka TLS / SASL settings from the environment, as Faust and aiokafka receive them.

There is no SASL or TLS broker here: the tests check the objects handed to the clients,
and that Faust's own translation of its credentials agrees with ours.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import pytest
from faust.auth import SASLCredentials, SSLCredentials
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from faust.types.auth import AuthProtocol, SASLMechanism

from streamrouter import admin, client
from streamrouter.config import Policy, Settings, Topics
from streamrouter.errors import ConfigError
from streamrouter.kafka_security import KafkaSecurity, load_kafka_security

PASSWORD = "pa55-w0rd-never-logged"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("STREAMROUTER_KAFKA_"):
            monkeypatch.delenv(name)


def from_env(monkeypatch: pytest.MonkeyPatch, **env: str | Path) -> KafkaSecurity:
    for name, value in env.items():
        monkeypatch.setenv(f"STREAMROUTER_KAFKA_{name.upper()}", str(value))
    return load_kafka_security()


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A self-signed certificate (also used as the CA) and its key, made by openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "client.crt", directory / "client.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-subj", "/CN=streamrouter-test", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return {"cafile": cert, "certfile": cert, "keyfile": key}


def test_plaintext_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    security = from_env(monkeypatch)
    assert security.security_protocol == "PLAINTEXT"
    assert security.faust_credentials() is None
    assert security.aiokafka_kwargs() == {"security_protocol": "PLAINTEXT"}
    assert credentials_to_aiokafka_auth(None) == security.aiokafka_kwargs()


def test_sasl_plaintext_scram(monkeypatch: pytest.MonkeyPatch) -> None:
    security = from_env(
        monkeypatch,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-256",
        sasl_username="router",
        sasl_password=PASSWORD,
    )
    credentials = security.faust_credentials()
    assert isinstance(credentials, SASLCredentials)
    assert credentials.protocol is AuthProtocol.SASL_PLAINTEXT
    assert credentials.mechanism is SASLMechanism.SCRAM_SHA_256
    assert (credentials.username, credentials.password) == ("router", PASSWORD)
    assert credentials.ssl_context is None
    assert security.aiokafka_kwargs() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-256",
        "sasl_plain_username": "router",
        "sasl_plain_password": PASSWORD,
    }
    assert _comparable(credentials_to_aiokafka_auth(credentials)) == _comparable(
        security.aiokafka_kwargs()
    )


def test_sasl_ssl_verifies_the_broker_against_the_ca(
    monkeypatch: pytest.MonkeyPatch, tls_files: dict[str, Path]
) -> None:
    security = from_env(
        monkeypatch,
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="router",
        sasl_password=PASSWORD,
        ssl_cafile=tls_files["cafile"],
    )
    credentials = security.faust_credentials()
    assert isinstance(credentials, SASLCredentials)
    assert credentials.protocol is AuthProtocol.SASL_SSL
    assert credentials.mechanism is SASLMechanism.SCRAM_SHA_512
    context = credentials.ssl_context
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    assert _subjects(context) == ["streamrouter-test"]
    kwargs = security.aiokafka_kwargs()
    assert kwargs["security_protocol"] == "SASL_SSL"
    assert isinstance(kwargs["ssl_context"], ssl.SSLContext)
    assert _comparable(credentials_to_aiokafka_auth(credentials)) == _comparable(kwargs)


def test_mutual_tls(monkeypatch: pytest.MonkeyPatch, tls_files: dict[str, Path]) -> None:
    security = from_env(
        monkeypatch,
        security_protocol="SSL",
        ssl_cafile=tls_files["cafile"],
        ssl_certfile=tls_files["certfile"],
        ssl_keyfile=tls_files["keyfile"],
    )
    credentials = security.faust_credentials()
    assert isinstance(credentials, SSLCredentials)
    assert credentials.protocol is AuthProtocol.SSL
    assert _subjects(credentials.context) == ["streamrouter-test"]
    kwargs = security.aiokafka_kwargs()
    assert set(kwargs) == {"security_protocol", "ssl_context"}
    assert _comparable(credentials_to_aiokafka_auth(credentials)) == _comparable(kwargs)


def test_ssl_without_a_ca_file_uses_the_system_cas(monkeypatch: pytest.MonkeyPatch) -> None:
    security = from_env(monkeypatch, security_protocol="SSL")
    context = security.ssl_context()
    assert context is not None and context.verify_mode is ssl.CERT_REQUIRED
    assert "CA system" in security.describe()


def test_names_are_forgiving_about_case_and_separators(monkeypatch: pytest.MonkeyPatch) -> None:
    security = from_env(
        monkeypatch,
        security_protocol="sasl-plaintext",
        sasl_mechanism="scram_sha_512",
        sasl_username="router",
        sasl_password=PASSWORD,
    )
    assert (security.security_protocol, security.sasl_mechanism) == (
        "SASL_PLAINTEXT",
        "SCRAM-SHA-512",
    )


def test_empty_variables_count_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    security = from_env(monkeypatch, sasl_mechanism="", sasl_username="", ssl_cafile="")
    assert security.security_protocol == "PLAINTEXT"


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"security_protocol": "SASL_SSL"}, "SASL_SSL needs STREAMROUTER_KAFKA_SASL_MECHANISM"),
        (
            {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "PLAIN",
                "sasl_username": "u",
            },
            "needs STREAMROUTER_KAFKA_SASL_PASSWORD",
        ),
        ({"sasl_username": "u"}, "STREAMROUTER_KAFKA_SASL_USERNAME set but"),
        ({"ssl_cafile": "/etc/hosts"}, "STREAMROUTER_KAFKA_SSL_CAFILE set but"),
        (
            {"security_protocol": "SSL", "ssl_cafile": "/nonexistent/ca.pem"},
            "/nonexistent/ca.pem is not a readable file",
        ),
        (
            {"security_protocol": "SSL", "ssl_keyfile": "/etc/hosts"},
            "KEYFILE needs STREAMROUTER_KAFKA_SSL_CERTFILE",
        ),
        ({"security_protocol": "TLS"}, "security_protocol"),
        (
            {
                "security_protocol": "SASL_SSL",
                "sasl_mechanism": "GSSAPI",
                "sasl_username": "u",
                "sasl_password": PASSWORD,
            },
            "sasl_mechanism",
        ),
    ],
)
def test_inconsistent_settings_fail_loudly(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], complaint: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        from_env(monkeypatch, **env)
    assert complaint in str(caught.value)


def test_unreadable_tls_files_are_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    security = from_env(monkeypatch, security_protocol="SSL", ssl_cafile=bogus)
    with pytest.raises(ConfigError, match="cannot load the Kafka TLS files"):
        security.faust_credentials()


def test_the_password_never_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    security = from_env(
        monkeypatch,
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_username="router",
        sasl_password=PASSWORD,
    )
    shown = [repr(security), str(security), security.describe(), repr(security.faust_credentials())]
    assert not any(PASSWORD in text for text in shown)
    # Nor in the error of a bad setting next to it.
    monkeypatch.setenv("STREAMROUTER_KAFKA_SECURITY_PROTOCOL", "SSL")
    with pytest.raises(ConfigError) as caught:
        load_kafka_security()
    assert PASSWORD not in str(caught.value)


class _Recorder:
    """Stands in for an aiokafka client class; records its keyword arguments."""

    calls: list[dict[str, Any]]

    def __init__(self, **kwargs: Any) -> None:
        type(self).calls.append(kwargs)

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def close(self) -> None: ...


def _recorder() -> type[_Recorder]:
    return type("Recorder", (_Recorder,), {"calls": []})


async def test_the_stream_client_and_the_topic_admin_connect_securely(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    security = from_env(
        monkeypatch,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="PLAIN",
        sasl_username="router",
        sasl_password=PASSWORD,
    )
    producer = _recorder()
    monkeypatch.setattr(client, "AIOKafkaProducer", producer)
    async with client.StreamClient("kafka://b1:9092;kafka://b2:9092", Topics(prefix="t.")):
        pass
    (kwargs,) = producer.calls
    assert kwargs["bootstrap_servers"] == "b1:9092,b2:9092"
    assert kwargs.items() >= security.aiokafka_kwargs().items()

    admin_client = _recorder()
    monkeypatch.setattr(admin, "AIOKafkaAdminClient", admin_client)
    async with admin.TopicAdmin("kafka://b1:9092"):
        pass
    (kwargs,) = admin_client.calls
    assert kwargs.items() >= security.aiokafka_kwargs().items()


def test_the_faust_app_gets_the_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    from streamrouter.app import create_app
    from streamrouter.llm.pricing import PriceTable

    from_env(
        monkeypatch,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="router",
        sasl_password=PASSWORD,
    )
    app = create_app(Settings(), Policy(), PriceTable.default())
    credentials = app.conf.broker_credentials
    assert isinstance(credentials, SASLCredentials)
    assert credentials.mechanism is SASLMechanism.SCRAM_SHA_512


def _comparable(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Auth kwargs with the SSL context reduced to its type (contexts are not comparable),
    and Faust's None entries (which aiokafka treats as unset) left out."""
    return {
        key: (type(value) if isinstance(value, ssl.SSLContext) else value)
        for key, value in kwargs.items()
        if value is not None
    }


def _subjects(context: ssl.SSLContext) -> list[str]:
    return [
        value
        for cert in context.get_ca_certs()
        for rdn in cert["subject"]
        for key, value in rdn
        if key == "commonName"
    ]
