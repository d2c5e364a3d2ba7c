"""Settings of a PostgreSQL log source: the ``source:`` section of a connector with ``type: pgoutput``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from ..settings import LogSettings, identifier


class PgLogSettings(LogSettings):
    """``source:`` of a connector following PostgreSQL's WAL through logical replication.

    The database needs ``wal_level = logical``; the connector's user needs the REPLICATION
    attribute and SELECT on the table. The publication and the slot are created when missing
    (creating a publication needs the table's owner); give existing ones by name otherwise.
    """

    type: Literal["pgoutput"] = "pgoutput"
    slot: str | None = Field(
        None, description="the replication slot (default civicbus_<table>); one per connector"
    )
    publication: str | None = Field(None, description="the publication (default: the slot's name)")

    @field_validator("url")
    @classmethod
    def _postgres(cls, url: SecretStr) -> SecretStr:
        scheme = url.get_secret_value().partition("://")[0]
        if scheme.split("+", 1)[0] not in ("postgresql", "postgres"):
            raise ValueError(f"a pgoutput source reads PostgreSQL: postgresql+psycopg://…, not {scheme!r}")
        return url

    @model_validator(mode="after")
    def _names(self) -> PgLogSettings:
        identifier(self.slot_name, "slot")
        identifier(self.publication_name, "publication")
        return self

    @property
    def slot_name(self) -> str:
        return self.slot or "civicbus_" + self.table.rsplit(".", 1)[-1].lower()

    @property
    def publication_name(self) -> str:
        return self.publication or self.slot_name
