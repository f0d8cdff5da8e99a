"""What a request is served from: the app's live catalog, its signing tokens, its links.

The web layer is the only one that knows of Flask's application context; everything below
it takes the live catalog and the tokens as arguments.
"""

from __future__ import annotations

from flask import current_app, request

from ..catalog import Config
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


def page_url(config: Config, endpoint: str, **values: str) -> str:
    """Return the absolute address of a page as the pages link to it.

    That is ``site.base_url`` and the route's path, or, in the export, the file's name.
    """
    link: str = current_app.jinja_env.globals["url_for"](endpoint, **values)  # type: ignore[operator]
    if link.startswith(("http://", "https://")):
        return link
    return config.site.base_url + link.removeprefix(site_root())


def site_root() -> str:
    """Return where the site is mounted (the script root), without a language's path."""
    root: str = request.environ.get(ROOT, request.script_root)
    return root


# Where the script root is kept when a path names a language (``languages.LanguagePaths``).
ROOT = "calfeed.root"
