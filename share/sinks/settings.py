"""Settings of the sinks (environment prefix ``CIVICBUS_SINK_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from civicbus.core.settings import BusSettings


class SinkSettings(BusSettings):
    """One sink: which app's projection of which view, and where it goes."""

    model_config = SettingsConfigDict(env_prefix="CIVICBUS_SINK_", extra="ignore")

    app: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    view: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    batch_size: int = Field(500, ge=1, le=50_000, description="records per database transaction at most")
    # postgres
    database_url: str | None = Field(
        None, pattern=r"^postgresql(\+psycopg)?://", description="the app's own PostgreSQL database"
    )
    table: str | None = Field(
        None, pattern=r"^[a-z_][a-z0-9_]{0,62}$", description="default: the view's name"
    )
    # webhook
    url: str | None = Field(None, pattern=r"^https?://", description="where each record is POSTed")
    secret: SecretStr | None = Field(None, description="the HMAC key of the signature header")
    secret_file: Path | None = None
    attempts: int = Field(6, ge=1, le=100, description="tries per record before it is dead-lettered")
    first_retry_s: float = Field(0.5, gt=0, description="the first retry's delay; it doubles up to 30 s")
    rate_per_s: float = Field(50.0, gt=0, description="requests per second at most")
    timeout_s: float = Field(10.0, gt=0, description="one request's timeout")

    @model_validator(mode="after")
    def _secret(self) -> SinkSettings:
        if self.secret is None and self.secret_file is not None:
            try:
                self.secret = SecretStr(self.secret_file.read_text(encoding="utf-8").strip())
            except OSError as exc:
                raise ValueError(f"secret_file: cannot read {self.secret_file}: {exc.strerror}") from None
        return self

    @property
    def table_name(self) -> str:
        return self.table or self.view.replace("-", "_")
