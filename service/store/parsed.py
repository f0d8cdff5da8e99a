"""Parsed event files: what each clean file was read into, kept by a digest of what made it.

The catalog decides what a file's entry holds and what its key digests
(``catalog/parsed.py``); here it is bytes by key. A key names its bytes for good, so
writers never conflict: the first one wins. When a file is read anew, its rows under older
keys go, so the table holds about one row for each file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .database import insert
from .tables import parsed_files

_BATCH = 500  # keys in one IN (...): well inside SQLite's limit of bound parameters


class ParsedStore:
    """Parsed event files in the database, by key."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def read(self, keys: Sequence[str]) -> Mapping[str, bytes]:
        """Return what is stored under any of ``keys``."""
        found: dict[str, bytes] = {}
        with self.engine.connect() as connection:
            for start in range(0, len(keys), _BATCH):
                rows = connection.execute(
                    sa.select(parsed_files.c.key, parsed_files.c.data).where(
                        parsed_files.c.key.in_(keys[start : start + _BATCH])
                    )
                )
                found.update({row.key: bytes(row.data) for row in rows})
        return found

    def write(self, entries: Sequence[tuple[str, str, bytes]]) -> None:
        """Store each (key, file it was read from, bytes), dropping the file's older keys."""
        rows = [{"key": key, "file": _file(name), "data": data} for key, name, data in entries]
        with self.engine.begin() as connection:
            for start in range(0, len(rows), _BATCH):
                batch = rows[start : start + _BATCH]
                connection.execute(
                    parsed_files.delete().where(
                        parsed_files.c.file.in_([row["file"] for row in batch]),
                        parsed_files.c.key.not_in([row["key"] for row in batch]),
                    )
                )
                statement = insert(connection, parsed_files).on_conflict_do_nothing(
                    index_elements=["key"]
                )
                connection.execute(statement, batch)


def _file(name: str) -> str:
    """Return the digest a file's name is kept as: names can be longer than a column."""
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
