"""Rendered entries: each calendar entry's bytes, kept by a digest of what it was rendered from.

Rendering ten thousand events takes seconds; reading their bytes back takes a fraction of
that. So the publisher keeps each rendered (unstamped) entry under a key that digests
everything the rendering depends on (the event, the site's settings it uses, its zone and
the renderer's own code), and a fresh process reads back every entry whose key it already
knows. A key names its bytes for good, so writers never conflict: the first one wins. When
an entry is rendered anew, the rows of its UID under older keys go.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .database import insert
from .tables import renders

_BATCH = 500  # keys in one IN (...): well inside SQLite's limit of bound parameters


@dataclass(frozen=True, slots=True)
class Rendered:
    """One entry as rendered: its UID, the TZID it uses (if any) and its bytes."""

    uid: str
    zone: str | None
    data: bytes


class RenderStore:
    """Rendered entries in the database, by key."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def read(self, keys: Sequence[str]) -> dict[str, Rendered]:
        """Return the entries stored under any of ``keys``."""
        found: dict[str, Rendered] = {}
        with self.engine.connect() as connection:
            for start in range(0, len(keys), _BATCH):
                rows = connection.execute(
                    sa.select(renders).where(renders.c.key.in_(keys[start : start + _BATCH]))
                )
                found.update({row.key: Rendered(row.uid, row.zone, row.data) for row in rows})
        return found

    def write(self, entries: Iterable[tuple[str, Rendered]]) -> None:
        """Store each (key, entry), dropping what its UID was rendered to before."""
        rows = [
            {"key": key, "uid": entry.uid, "zone": entry.zone, "data": entry.data}
            for key, entry in entries
        ]
        with self.engine.begin() as connection:
            for start in range(0, len(rows), _BATCH):
                batch = rows[start : start + _BATCH]
                connection.execute(
                    renders.delete().where(
                        renders.c.uid.in_([row["uid"] for row in batch]),
                        renders.c.key.not_in([row["key"] for row in batch]),
                    )
                )
                # Rows as parameters, not as VALUES: one statement, compiled once.
                statement = insert(connection, renders).on_conflict_do_nothing(
                    index_elements=["key"]
                )
                connection.execute(statement, batch)
