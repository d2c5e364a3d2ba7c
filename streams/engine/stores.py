"""Where a view's fold states live on a worker: one store per view and partition, and how a store
catches up with its changelog.

The changelog topic (compacted, one partition per source partition) is the states' truth; a store
is a local copy of it plus a checkpoint, the changelog offset up to which the copy holds it. The
engine writes a store only after the transaction that wrote the same states to the changelog has
committed, in one atomic write with the new checkpoint. So a store is never ahead of the
changelog, and catching up (:func:`restore`) reads only the changelog's tail past the
checkpoint: what other workers wrote while they held the partition, or what a crash between the
commit and the store write left out. A store that is gone (a new machine) is rebuilt from the
whole changelog.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

import structlog
from rocksdict import Options, Rdict, WriteBatch, WriteOptions

log = structlog.get_logger(__name__)

_STATE = b"s"
_CHECKPOINT = b"m:checkpoint"


class Store(Protocol):
    """One view's states on one partition."""

    checkpoint: int
    """The changelog offset up to which this store holds the changelog (0: nothing yet)."""

    def get(self, key: bytes) -> bytes | None: ...

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Every entry whose key starts with ``prefix``, in key order."""
        ...

    def write(self, states: Mapping[bytes, bytes | None], checkpoint: int) -> None:
        """Apply ``states`` (None deletes) and set the checkpoint, all or nothing."""

    def close(self) -> None: ...


class MemoryStore:
    """A store held in memory (tests, or a worker that should rebuild from the changelog)."""

    def __init__(self) -> None:
        self.checkpoint = 0
        self._data: dict[bytes, bytes] = {}

    def get(self, key: bytes) -> bytes | None:
        return self._data.get(key)

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        yield from sorted((k, v) for k, v in self._data.items() if k.startswith(prefix))

    def write(self, states: Mapping[bytes, bytes | None], checkpoint: int) -> None:
        for key, value in states.items():
            if value is None:
                self._data.pop(key, None)
            else:
                self._data[key] = value
        self.checkpoint = max(self.checkpoint, checkpoint)

    def close(self) -> None:
        pass


class RocksStore:
    """A store in a RocksDB folder (rocksdict); it survives a restart of the worker.

    It writes no write-ahead log, as Kafka Streams' stores do not: the changelog is the log. A
    clean close flushes everything. A crash loses the writes since RocksDB's last flush, and
    their checkpoint with them (a write batch never splits across flushes), so the store is an
    older copy that knows it is older, and :func:`.changelog.restore` reads those states again."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = Rdict(str(path), Options(raw_mode=True))
        writes = WriteOptions()
        writes.disable_wal = True  # type: ignore[method-assign,assignment]  # a property; the stub says method
        self._db.set_write_options(writes)
        held = self._db.get(_CHECKPOINT)
        self.checkpoint = int(held) if held is not None else 0

    def get(self, key: bytes) -> bytes | None:
        value = self._db.get(_STATE + key)
        return bytes(value) if value is not None else None

    def scan(self, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        start = _STATE + prefix
        for key, value in self._db.items(from_key=start):
            raw = key if isinstance(key, bytes) else b""  # raw mode: keys and values are bytes
            if not raw.startswith(start):
                return
            yield raw[len(_STATE) :], value if isinstance(value, bytes) else b""

    def write(self, states: Mapping[bytes, bytes | None], checkpoint: int) -> None:
        batch = WriteBatch(raw_mode=True)
        for key, value in states.items():
            if value is None:
                batch.delete(_STATE + key)
            else:
                batch.put(_STATE + key, value)
        self.checkpoint = max(self.checkpoint, checkpoint)
        batch.put(_CHECKPOINT, str(self.checkpoint).encode())
        self._db.write(batch)

    def close(self) -> None:
        self._db.close()

    @staticmethod
    def wipe(path: Path) -> None:
        """Remove a store that cannot be opened (corrupt): it is rebuilt from the changelog."""
        shutil.rmtree(path, ignore_errors=True)


def open_store(kind: str, folder: Path) -> Store:
    """A store of ``kind`` ("rocksdb" or "memory") for one view and partition in ``folder``."""
    if kind == "memory":
        return MemoryStore()
    try:
        return RocksStore(folder)
    except Exception as exc:  # a store is a cache of the changelog: a broken one is rebuilt
        log.warning("streams.store_rebuilt", path=str(folder), error=str(exc))
        RocksStore.wipe(folder)
        return RocksStore(folder)
