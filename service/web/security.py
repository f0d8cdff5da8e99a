"""What every answer says to the browser about safety, and how much of a request is read.

Every page forbids what calfeed never does: scripts and styles from elsewhere or inline
(Content-Security-Policy), being framed by another site (frame-ancestors and
X-Frame-Options), content sniffing (nosniff). Links carry tokens in their paths
(``/preferences/<token>``), so no address of this site travels in a Referer to another one
(``Referrer-Policy: same-origin``). A route may set its own value first: the embed
(``embed``), meant for a partner's iframe, allows any site to frame it, and so goes without
X-Frame-Options. The site keeps no session: no cookie is read or set, whatever a route does
(Flask's own session would read and sign one on every request).

No form holds a token (``signup`` says why); ``from_another_site`` tells a form that a
browser posts from another site's page: browsers say where a request comes from in
``Sec-Fetch-Site``, and older ones in ``Origin``.

The largest form calfeed takes is a sign-up of a few hundred bytes: a body announced beyond
``MAX_BODY`` is refused with 413 before any of it is read, and a chunked one as soon as it
passes the bound.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Request, Response, abort, request
from flask.sessions import SessionInterface

MAX_BODY = 64 * 1024

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def from_another_site(sent: Request, base_url: str) -> bool:
    """Tell whether a browser sent ``sent`` from a page of another site.

    ``Sec-Fetch-Site`` says it where the browser sends it (``same-origin``, or ``none`` for
    what the visitor typed or bookmarked); otherwise ``Origin`` must name this site, as the
    request reached it or as ``site.base_url`` says (behind a proxy). A request with neither
    comes from no browser's page of another site: a program, or a browser older than both.
    """
    fetched = sent.headers.get("Sec-Fetch-Site")
    if fetched is not None:
        return fetched not in ("same-origin", "none")
    origin = sent.headers.get("Origin")
    if origin is None:
        return False
    parts = urlsplit(origin)
    ours = urlsplit(base_url)
    if (parts.scheme, parts.netloc) == (ours.scheme, ours.netloc):
        return False
    return parts.netloc != sent.host or parts.scheme != sent.scheme


class _NoSessions(SessionInterface):
    """No session: nothing is read from a request's cookies, nothing is set in an answer.

    ``session`` is Flask's null session, which refuses to be written to.
    """

    def open_session(self, app: Flask, request: Request) -> None:
        return None  # Flask then gives the null session

    def save_session(self, app: Flask, session: object, response: Response) -> None:
        return None


def _refuse_large_bodies() -> None:
    if request.content_length is not None and request.content_length > MAX_BODY:
        abort(413)


def _add_headers(response: Response) -> Response:
    headers = response.headers
    given = {name.lower() for name in headers.keys()}  # a route's own value is kept
    headers.extend([(name, value) for name, value in HEADERS.items() if name.lower() not in given])
    # A page whose own policy lets other sites frame it (the embed) goes without the
    # older header, which has no value for "any site".
    if "frame-ancestors 'none'" not in headers["Content-Security-Policy"]:
        del headers["X-Frame-Options"]
    return response


def init_app(app: Flask) -> None:
    """Bound request bodies, add the safety headers to every answer, and keep no session."""
    app.session_interface = _NoSessions()
    app.config.setdefault("MAX_CONTENT_LENGTH", MAX_BODY)  # chunked bodies, as they are read
    app.before_request(_refuse_large_bodies)
    app.after_request(_add_headers)
