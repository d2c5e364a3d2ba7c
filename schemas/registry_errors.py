"""Confluent Schema Registry error codes, shared by the server and the client."""

from __future__ import annotations


class RegistryError(Exception):
    """An error the registry API reports as ``{"error_code": code, "message": message}``."""

    SUBJECT_NOT_FOUND = 40401
    VERSION_NOT_FOUND = 40402
    SCHEMA_NOT_FOUND = 40403
    SUBJECT_CONFIG_NOT_FOUND = 40408
    INCOMPATIBLE = 409
    INVALID_SCHEMA = 42201
    INVALID_VERSION = 42202
    INVALID_COMPATIBILITY = 42203
    STORE_ERROR = 50001

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return self.code if self.code < 1000 else self.code // 100
