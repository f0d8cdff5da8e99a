"""Sign-up rate limits: per address in the database, per client in the limits storage.

Per address (``signup.limit_per_address``), the database counts the account mails queued for
the address in its normalised spelling (see ``subscribers.request``): every web process
sees the same count, and only sign-ups that could mail count, so invalid POSTs cannot lock
the owner out. An address that had its share gets the same answer as any other sign-up and
no mail: nothing a visitor sees tells how often an address was used.

Per client (``signup.limit_per_client``, by remote address), the ``limits`` library counts
valid sign-ups in the storage ``signup.limits_storage`` names: ``memory://`` counts in each
process, ``redis://`` across all of them. Counts are kept under a name derived from the
site's secret key, so the processes of one site share them and two sites on one Redis do
not. No response carries limit headers. A storage that cannot be used stops the start with
the reason; one that stops answering later lets sign-ups through (and says so in the log):
the per-address limit, in the database, still spares every mailbox.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from limits import parse_many
from limits.errors import ConfigurationError
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from ..errors import CalfeedError

log = logging.getLogger(__name__)
TIMEOUT = 5  # seconds to connect to the storage, or to hear its answer


class Throttle:
    """Count sign-ups per client in one storage, shared by the processes of one site."""

    def __init__(self, storage_url: str, secret: str, config_path: Path) -> None:
        self._storage_url, self._config_path = storage_url, config_path
        self._namespace = hashlib.sha256(f"calfeed sign-ups {secret}".encode()).hexdigest()[:16]
        self._limiter: MovingWindowRateLimiter | None = None  # opened at the first sign-up
        self._opening = threading.Lock()

    def allow(self, limit: str, client: str) -> bool:
        """Count a sign-up from ``client``; False if it goes beyond ``limit`` (``20/hour``)."""
        try:
            limiter = self._open()
            hits = [limiter.hit(item, self._namespace, client) for item in parse_many(limit)]
        except Exception as err:  # whatever the storage's client raises: redis, sockets
            log.error("sign-up rate limit storage failed, not limiting by client: %s", err)
            return True
        return all(hits)

    def _open(self) -> MovingWindowRateLimiter:
        with self._opening:
            if self._limiter is None:
                storage = open_storage(self._storage_url, self._config_path)
                self._limiter = MovingWindowRateLimiter(storage)
            return self._limiter


def windows(limit: str) -> list[tuple[int, timedelta]]:
    """Return the (amount, window) pairs of a limit such as ``5/hour;20/day``."""
    return [(item.amount, timedelta(seconds=item.get_expiry())) for item in parse_many(limit)]


def open_storage(url: str, config_path: Path) -> Storage:
    """Open the storage at ``url`` and check it answers; raise CalfeedError if it cannot."""
    where = f"{config_path}: signup.limits_storage: cannot use {_shown(url)!r}"
    try:
        storage = storage_from_string(url, socket_connect_timeout=TIMEOUT, socket_timeout=TIMEOUT)
    except (ConfigurationError, ValueError) as err:
        raise CalfeedError(f"{where}: {err}; use memory:// or redis://host:6379") from err
    if not isinstance(storage, Storage):  # an async one (async+redis://): not for Flask
        raise CalfeedError(f"{where}: an async storage; use memory:// or redis://host:6379")
    if not storage.check():
        raise CalfeedError(f"{where}: it does not answer")
    return storage


def _shown(url: str) -> str:
    """Return ``url`` with any password masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")).geturl()
