"""Signed tokens for the links calfeed mails and shows: confirm, manage, unsubscribe, feed.

A token names one subscription (a subscriber id and the generation of their subscription)
for one purpose, signed with the site's secret key, so a link works without a session and
cannot be forged, altered or used for another purpose. Each purpose has a lifetime that fits
its use (``LIFETIMES``), and every token dies with the subscription it was made for: leaving
and signing up again starts a new generation, whose links are new. The key comes from
``CALFEED_SECRET_KEY``, or is generated once into ``var/secret_key`` beside the database.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from .errors import CalfeedError

# How long a sign-up's confirmation link works.
CONFIRM_WITHIN = timedelta(hours=72)

# How long a link works after it was made (None: as long as its subscription lasts).
LIFETIMES: dict[str, timedelta | None] = {
    # A sign-up is confirmed at once or not at all; an old link must not confirm it later.
    "confirm": CONFIRM_WITHIN,
    # The preferences page shows the address: a link to it lasts one season of events.
    "manage": timedelta(days=90),
    # Leaving must work from any mail still read, long after its event; leaving early is
    # the worst a leaked link can do.
    "unsubscribe": timedelta(days=365),
    # A calendar client polls one address for years and cannot be given another.
    "feed": None,
}


class TokenError(CalfeedError):
    """A token is forged, for another purpose, or expired."""


@dataclass(frozen=True, slots=True)
class Ticket:
    """What a genuine token names: a subscriber, and the generation of their subscription."""

    subscriber_id: int
    generation: int


def secret_key(var_dir: Path, environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """Return the signing key: $CALFEED_SECRET_KEY, else var/secret_key (made once)."""
    if environ.get("CALFEED_SECRET_KEY"):
        return environ["CALFEED_SECRET_KEY"]
    path = var_dir / "secret_key"
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        # Write the key aside, then link it into place: a process starting at the same time
        # either finds no key or the whole key, and a key in use is never overwritten.
        draft = var_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        draft.write_text(secrets.token_urlsafe(48), encoding="ascii")
        draft.chmod(0o600)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text(encoding="ascii").strip()


class Tokens:
    """Make and check tokens for one purpose each (``unsubscribe``, ``confirm``, ...)."""

    def __init__(self, key: str) -> None:
        self.key = key
        self._serializer = URLSafeTimedSerializer(key, salt="calfeed")

    @classmethod
    def for_site(cls, root: Path) -> Tokens:
        """Return the tokens of the site whose config.yaml is in ``root`` (key made once)."""
        return cls(secret_key(root / "var"))

    def make(self, purpose: str, subscriber_id: int, generation: int) -> str:
        """Return a token that names ``subscriber_id``'s subscription for ``purpose``."""
        assert purpose in LIFETIMES, purpose
        data: dict[str, Any] = {"p": purpose, "s": subscriber_id}
        if generation != 1:
            # Left out for the first: links mailed before generations existed stay good.
            data["g"] = generation
        return self._serializer.dumps(data)

    def check(self, purpose: str, token: str) -> Ticket:
        """Return what ``token`` names for ``purpose``, or raise TokenError."""
        lifetime = LIFETIMES[purpose]
        max_age = None if lifetime is None else int(lifetime.total_seconds())
        try:
            data: Any = self._serializer.loads(token, max_age=max_age)
        except SignatureExpired as err:
            raise TokenError("this link has expired") from err
        except BadSignature as err:
            raise TokenError("this link is not valid") from err
        if not isinstance(data, dict) or data.get("p") != purpose:
            raise TokenError("this link is not valid")
        subscriber_id, generation = data.get("s"), data.get("g", 1)
        if not isinstance(subscriber_id, int) or not isinstance(generation, int):
            raise TokenError("this link is not valid")
        return Ticket(subscriber_id, generation)
