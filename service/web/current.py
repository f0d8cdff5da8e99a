"""What a request is served from: the app's live catalog and its signing tokens.

The web layer is the only one that knows of Flask's application context; everything below
it takes the live catalog and the tokens as arguments.
"""

from __future__ import annotations

from flask import current_app

from ..live import LiveCatalog
from ..tokens import Tokens


def live_catalog() -> LiveCatalog:
    """Return the live catalog of the app handling the current request."""
    live: LiveCatalog = current_app.extensions["calfeed.live"]
    return live


def signing_tokens() -> Tokens:
    """Return the tokens of the app handling the current request."""
    tokens: Tokens = current_app.extensions["calfeed.tokens"]
    return tokens
