"""Safety headers and the bound on request bodies (``service/web/security.py``).

Every answer (page, feed, JSON, static file, error) carries the headers; no page needs an
inline script the policy would refuse; a body beyond the bound is refused with 413 before it
is read, in the app and by both real servers, gunicorn (``serve``) and waitress (``run``).
"""

from __future__ import annotations

import socket
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask import Flask, session
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient
from seed import SEED_IDS, SEED_TOPICS

from service.web.security import MAX_BODY

from .test_serve import running

PATHS = [
    "/",
    f"/topics/{SEED_TOPICS[0]}",
    f"/events/{SEED_IDS[0]}",
    f"/events/{SEED_IDS[0]}.ics",
    "/feeds/all.ics",
    "/subscribe",
    "/healthz",
    "/static/style.css",
    "/no-such-page",
    "/unsubscribe/not-a-token",
]


@pytest.mark.parametrize("path", PATHS)
def test_every_answer_carries_the_safety_headers(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    response.close()  # a static file is streamed

    policy = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["form-action"] == "'self'"
    assert "unsafe" not in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize("path", PATHS)
def test_no_answer_reads_or_sets_a_session_cookie(app: Flask, path: str) -> None:
    client = app.test_client()
    # A cookie signed with the site's own key, as Flask's session would have set it.
    signed = SecureCookieSessionInterface().get_signing_serializer(app)
    assert signed is not None
    client.set_cookie("session", signed.dumps({"language": "fr"}))

    response = client.get(path)
    response.close()

    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")


def test_a_route_cannot_keep_anything_in_a_session(app: Flask) -> None:
    @app.get("/keeps-a-session")
    def keeps() -> str:
        session["seen"] = True
        return "kept"

    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = app.test_client().get("/keeps-a-session")

    assert response.status_code == 500
    assert "Set-Cookie" not in response.headers


class _Scripts(HTMLParser):
    """Collect inline scripts and inline event handlers, which the policy refuses."""

    def __init__(self) -> None:
        super().__init__()
        self.inline: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        # A data block (JSON-LD) is never run, so the policy does not apply to it.
        data = names.get("type") == "application/ld+json"
        if tag == "script" and "src" not in names and not data:
            self.inline.append("<script> without src")
        self.inline += [f"<{tag} {name}>" for name in names if name.startswith("on")]
        self.inline += [f"<{tag} style>" for name in names if name == "style"]


@pytest.mark.parametrize("path", [*PATHS[:3], "/subscribe"])
def test_no_page_needs_an_inline_script_or_style(client: FlaskClient, path: str) -> None:
    found = _Scripts()
    found.feed(client.get(path).get_data(as_text=True))

    assert found.inline == []


def test_a_large_body_is_refused_with_413_before_it_is_read(client: FlaskClient) -> None:
    token_free = {"Content-Type": "application/x-www-form-urlencoded"}

    response = client.post("/subscribe", data=b"e" * (MAX_BODY + 1), headers=token_free)

    assert response.status_code == 413
    assert client.post("/subscribe", data=b"email=x", headers=token_free).status_code == 400


def _answer_to_a_huge_announced_body(port: int) -> bytes:
    """Announce 100 MB, send 1 KB, and return the status line the server answers with."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(
            b"POST /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 100000000\r\n\r\n" + b"e" * 1024
        )
        started = time.monotonic()
        answer = b""
        while b"\r\n" not in answer:  # a server that reads the whole body never answers
            chunk = connection.recv(4096)
            if not chunk:
                break
            answer += chunk
        assert time.monotonic() - started < 10
    return answer.split(b"\r\n", 1)[0]


@pytest.mark.parametrize("command", [["serve", "--workers", "1"], ["run"]])
def test_both_servers_refuse_a_huge_body_at_once(
    seed_project: Path, tmp_path: Path, command: list[str]
) -> None:
    config = seed_project / "config.yaml"
    with running(["--config", str(config), *command], tmp_path / "log") as port:
        status_line = _answer_to_a_huge_announced_body(port)

    assert status_line.startswith(b"HTTP/1.1 413 "), status_line
