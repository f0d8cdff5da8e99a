"""Signed tokens for links in mails: unsubscribe (and, later, confirm and preferences).

A token carries a subscriber id and a purpose, signed with the site's secret key, so a link
works without a session and cannot be forged or reused for another purpose. The key comes
from ``CALFEED_SECRET_KEY``, or is generated once into ``var/secret_key`` beside the database.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from .errors import CalfeedError


class TokenError(CalfeedError):
    """A token is forged, for another purpose, or expired."""


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
        self._serializer = URLSafeTimedSerializer(key, salt="calfeed")

    def make(self, purpose: str, subscriber_id: int) -> str:
        """Return a token that names ``subscriber_id`` for ``purpose``."""
        return self._serializer.dumps({"p": purpose, "s": subscriber_id})

    def check(self, purpose: str, token: str, max_age: int | None = None) -> int:
        """Return the subscriber id in ``token``, or raise TokenError."""
        try:
            data: Any = self._serializer.loads(token, max_age=max_age)
        except SignatureExpired as err:
            raise TokenError("this link has expired") from err
        except BadSignature as err:
            raise TokenError("this link is not valid") from err
        if (
            not isinstance(data, dict)
            or data.get("p") != purpose
            or not isinstance(data.get("s"), int)
        ):
            raise TokenError("this link is not valid")
        return int(data["s"])
