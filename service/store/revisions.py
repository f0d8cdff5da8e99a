"""Revisions: SEQUENCE and LAST-MODIFIED of every calendar entry and feed, kept in the database.

Calendar clients replace an entry only when its SEQUENCE rises, and poll cheaply only when an
unchanged feed is byte-identical. So each entry's content hash is remembered: the same hash
keeps its revision, a new hash raises SEQUENCE and sets LAST-MODIFIED to now. Rows are never
deleted, so an id that comes back continues its sequence instead of starting again.

Several web processes may revise at once; the conditional UPDATE (``WHERE content_hash !=``)
and ``INSERT .. ON CONFLICT DO NOTHING`` make that safe: the first writer wins, the others
read its result.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..clock import Clock, utc_now
from .database import insert
from .tables import revisions

_BATCH = 500


@dataclass(frozen=True, slots=True)
class Revision:
    """How many times an entry changed, and when it last did."""

    sequence: int
    last_modified: datetime


class RevisionStore:
    """Revisions of content hashes, by key (an entry UID or a feed path)."""

    def __init__(self, engine: Engine, clock: Clock = utc_now) -> None:
        self.engine = engine
        self.clock = clock

    def revise(self, hashes: Mapping[str, str]) -> dict[str, Revision]:
        """Return the revision of each key for its current hash, recording any change."""
        result: dict[str, Revision] = {}
        keys = list(hashes)
        with self.engine.begin() as connection:
            for start in range(0, len(keys), _BATCH):
                batch = {key: hashes[key] for key in keys[start : start + _BATCH]}
                result.update(self._revise_batch(connection, batch))
        return result

    def _revise_batch(
        self, connection: sa.Connection, hashes: dict[str, str]
    ) -> dict[str, Revision]:
        stored = _read(connection, list(hashes))
        now = self.clock()
        new = [key for key in hashes if key not in stored]
        changed = [key for key, (digest, _) in stored.items() if digest != hashes[key]]
        if new:
            # Rows as parameters, not as VALUES: one statement, compiled once.
            statement = insert(connection, revisions).on_conflict_do_nothing(index_elements=["uid"])
            connection.execute(
                statement,
                [
                    {"uid": key, "content_hash": hashes[key], "sequence": 0, "last_modified": now}
                    for key in new
                ],
            )
        for key in changed:
            connection.execute(
                revisions.update()
                .where(revisions.c.uid == key, revisions.c.content_hash != hashes[key])
                .values(
                    content_hash=hashes[key],
                    sequence=revisions.c.sequence + 1,
                    last_modified=now,
                )
            )
        if new or changed:
            stored.update(_read(connection, new + changed))
        return {key: revision for key, (_, revision) in stored.items()}


def _read(connection: sa.Connection, keys: list[str]) -> dict[str, tuple[str, Revision]]:
    if not keys:
        return {}
    rows = connection.execute(
        sa.select(
            revisions.c.uid,
            revisions.c.content_hash,
            revisions.c.sequence,
            revisions.c.last_modified,
        ).where(revisions.c.uid.in_(keys))
    )
    return {row.uid: (row.content_hash, Revision(row.sequence, row.last_modified)) for row in rows}
