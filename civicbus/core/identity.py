"""Who a civicbus process is to the broker: its SASL/SCRAM principal, or nobody (plaintext).

Every Kafka client of a process (kafka-python's in :mod:`.kafka`, librdkafka's in the streams
engine and the projections) takes its security settings from :func:`current`, read once from the
environment (prefix ``CIVICBUS_KAFKA_``) and validated: a SASL protocol without a user or a
password is refused at start with the variable named. The password comes from
``CIVICBUS_KAFKA_PASSWORD`` or from the file ``CIVICBUS_KAFKA_PASSWORD_FILE`` names (a secrets
file, mode 0600); it is a ``SecretStr``, so it never prints in a log line or a repr.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .settings import load

Protocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


class KafkaIdentity(BaseSettings):
    """The principal this process authenticates as; PLAINTEXT (the default) authenticates none."""

    model_config = SettingsConfigDict(env_prefix="CIVICBUS_KAFKA_", extra="forbid")

    security_protocol: Protocol = "PLAINTEXT"
    sasl_mechanism: Mechanism = "SCRAM-SHA-512"
    username: str | None = Field(None, min_length=1)
    password: SecretStr | None = None
    password_file: Path | None = Field(None, description="a file holding the password (one line)")

    @model_validator(mode="after")
    def _complete(self) -> KafkaIdentity:
        if self.password is None and self.password_file is not None:
            try:
                text = self.password_file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ValueError(f"password_file: cannot read {self.password_file}: {exc.strerror}") from None
            self.password = SecretStr(text)
        if self.sasl and (not self.username or self.password is None):
            raise ValueError(
                f"{self.security_protocol} needs CIVICBUS_KAFKA_USERNAME and CIVICBUS_KAFKA_PASSWORD "
                "(or CIVICBUS_KAFKA_PASSWORD_FILE)"
            )
        return self

    @property
    def sasl(self) -> bool:
        return self.security_protocol != "PLAINTEXT"

    def secret(self) -> str:
        return self.password.get_secret_value() if self.password is not None else ""

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's clients."""
        if not self.sasl:
            return {}
        return {
            "security_protocol": self.security_protocol,
            "sasl_mechanism": self.sasl_mechanism,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.secret(),
        }

    def librdkafka(self) -> dict[str, Any]:
        """Configuration entries for librdkafka's (confluent-kafka's) clients."""
        if not self.sasl:
            return {}
        return {
            "security.protocol": self.security_protocol.lower(),
            "sasl.mechanism": self.sasl_mechanism,
            "sasl.username": self.username,
            "sasl.password": self.secret(),
        }


@cache
def current() -> KafkaIdentity:
    """This process's identity, from the environment; SettingsError names a bad variable."""
    return load(KafkaIdentity)
