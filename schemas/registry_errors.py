"""Confluent Schema Registry error codes, shared by the server and the client."""

from __future__ import annotations


class RegistryError(Exception):
    """An error the registry API reports as ``{"error_code": code, "message": message}``.

    The codes are Confluent's (its ``rest/exceptions/Errors.java``); the HTTP status is the
    code's first three digits.
    """

    SUBJECT_NOT_FOUND = 40401
    VERSION_NOT_FOUND = 40402
    SCHEMA_NOT_FOUND = 40403
    SUBJECT_SOFT_DELETED = 40404
    SUBJECT_NOT_SOFT_DELETED = 40405
    VERSION_SOFT_DELETED = 40406
    VERSION_NOT_SOFT_DELETED = 40407
    SUBJECT_CONFIG_NOT_FOUND = 40408
    SUBJECT_MODE_NOT_FOUND = 40409
    INCOMPATIBLE = 40901
    INVALID_SCHEMA = 42201
    INVALID_VERSION = 42202
    INVALID_COMPATIBILITY = 42203
    INVALID_MODE = 42204
    NOT_PERMITTED = 42205
    REFERENCE_EXISTS = 42206
    STORE_ERROR = 50001

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return self.code if self.code < 1000 else self.code // 100
