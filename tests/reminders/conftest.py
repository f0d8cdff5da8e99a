"""Fixtures for reminders: a real SMTP server on loopback, a guard against any other mail
server, frozen time, and a project whose worker mails that server.

``smtp`` is an aiosmtpd server on 127.0.0.1 that keeps every message it accepts (envelope and
parsed mail) and can be told to refuse the next messages (4xx or 5xx) or drop the connection.
The autouse ``smtp_guard`` fails any test that opens an SMTP connection to anything else, so
no test can mail a real host by accident. ``calfeed`` writes config.yaml and events into the
test's project and drives the real worker (``Worker.sweep()``) under frozen time.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import re
import smtplib
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import icalendar
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory
from ports import free_port

from service.live import LiveCatalog
from service.reminders import planner
from service.reminders.transports import SmtpTransport, Waits
from service.reminders.worker import Worker
from service.store.tables import outbox, subscribers
from service.tokens import Tokens

SECRET = "reminder-tests-secret-key"
BASE_URL = "https://events.example.org"
SMTP_PORTS = frozenset({25, 465, 587, 2525})
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_MESSAGE_ID = re.compile(rb"^Message-ID:\s*(<[^>]*>)", re.I | re.M)
OFFSETS = {"before_start": ["7d", "1d", "1h"], "before_registration_deadline": ["3d", "1d"]}


def waits(seconds: float) -> Waits:
    """Wait at most ``seconds`` for every reply: a test server that stalls fails the test soon."""
    return Waits(*[seconds] * 6)


# The guard: no SMTP connection leaves this machine's test server.


class SmtpGuard:
    """The SMTP endpoints tests may reach, and every attempt to reach another."""

    def __init__(self) -> None:
        self.allowed: set[tuple[str, int]] = set()
        self.violations: list[str] = []

    def refuse(self, what: str) -> None:
        self.violations.append(what)
        pytest.fail(f"a test tried to open a real SMTP connection: {what}", pytrace=False)


@pytest.fixture(autouse=True)
def smtp_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpGuard]:
    """Fail any test that connects to an SMTP server other than the loopback test server."""
    guard = SmtpGuard()
    real_connect = smtplib.SMTP.connect
    real_create_connection = socket.create_connection

    def connect(
        self: smtplib.SMTP, host: str = "localhost", port: int = 0, source_address: Any = None
    ) -> tuple[int, bytes]:
        name, number = host, port
        if not number and host.count(":") == 1:
            name, _, text = host.partition(":")
            number = int(text) if text.isdigit() else 0
        number = number or self.default_port
        if (name, number) not in guard.allowed:
            guard.refuse(f"smtplib to {name}:{number}")
        return real_connect(self, host, port, source_address)

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        host, port = address[0], int(address[1])
        if port in SMTP_PORTS or host not in LOOPBACK:
            guard.refuse(f"socket to {host}:{port}")
        return real_create_connection(address, *args, **kwargs)

    monkeypatch.setattr(smtplib.SMTP, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    yield guard
    # A refusal inside a worker thread may have been swallowed by the scheduler: fail here too.
    assert not guard.violations, f"real SMTP connections attempted: {guard.violations}"


# The real SMTP server.


class Received:
    """One message the server accepted: its envelope, the mail, when it arrived."""

    def __init__(
        self,
        mail_from: str,
        rcpt_tos: tuple[str, ...],
        data: bytes,
        at: datetime,
        mail_options: tuple[str, ...] = (),
    ):
        self.mail_from, self.rcpt_tos, self.data = mail_from, rcpt_tos, data
        self.at = at  # the real clock, for timing tests
        self.mail_options = mail_options  # of MAIL FROM, such as BODY=8BITMIME
        found = _MESSAGE_ID.search(data.partition(b"\r\n\r\n")[0])
        self.message_id = found.group(1).decode() if found else ""
        self._message: EmailMessage | None = None

    @property
    def message(self) -> EmailMessage:
        """The mail, parsed as a mail client would (on first use: big batches stay fast)."""
        if self._message is None:
            parsed = email.message_from_bytes(self.data, policy=email.policy.default)
            assert isinstance(parsed, EmailMessage)
            self._message = parsed
        return self._message

    @property
    def to(self) -> str:
        return self.rcpt_tos[0]

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    def text(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None, "no text/plain part"
        return str(part.get_content()).replace("\r\n", "\n")

    def html(self) -> str:
        part = self.message.get_body(("html",))
        assert part is not None, "no text/html part"
        return str(part.get_content()).replace("\r\n", "\n")

    def __repr__(self) -> str:
        return f"<Received {self.message_id} to {self.to}>"


class MailSink:
    """An aiosmtpd handler that stores what it accepts and fails on request."""

    def __init__(self) -> None:
        self.messages: list[Received] = []
        self.on_message: Callable[[Received], None] | None = None
        self.on_rcpt: Callable[[str], None] | None = None  # runs before RCPT TO is answered
        self.rset_replies: deque[str] = deque()  # the reply to each coming RSET, then 250
        self.delay = 0.0  # seconds before each reply to MAIL, RCPT and the end of the data
        self.end_delay = 0.0  # seconds more before the reply to the end of the data
        self.refused: dict[str, str] = {}  # address -> the reply to every MAIL or RCPT of it
        self._plan: deque[str] = deque()  # "drop" or an SMTP reply, one per coming message
        self.answering = 0  # messages received and not answered yet, on all connections
        self.most_answering = 0  # the most there were at once
        self._changed = threading.Condition()

    # What the tests call.

    def fail_next(self, count: int, reply: str) -> None:
        """Answer ``reply`` (e.g. ``451 4.7.1 Try again later``) to the next ``count`` RCPTs."""
        with self._changed:
            self._plan.extend([reply] * count)

    def drop_next(self, count: int = 1) -> None:
        """Cut the connection at the DATA of the next ``count`` messages (nothing accepted)."""
        with self._changed:
            self._plan.extend(["drop"] * count)

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        """Wait (at most ``timeout`` real seconds) until ``count`` messages arrived."""
        return self.wait_until(lambda messages: len(messages) >= count, timeout)

    def wait_until(
        self, condition: Callable[[list[Received]], bool], timeout: float
    ) -> list[Received]:
        """Wait (at most ``timeout`` real seconds) until ``condition(messages)`` holds."""
        with self._changed:
            self._changed.wait_for(lambda: condition(self.messages), timeout)
            return list(self.messages)

    def to(self, address: str) -> list[Received]:
        """Return the messages received for ``address``."""
        return [m for m in self.messages if address in m.rcpt_tos]

    @property
    def subjects(self) -> list[str]:
        return [m.subject for m in self.messages]

    # aiosmtpd hooks.

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, mail_options: list[str]
    ) -> str:
        await asyncio.sleep(self.delay)
        if address in self.refused:
            return self.refused[address]
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        await asyncio.sleep(self.delay)
        if address in self.refused:
            return self.refused[address]
        if self.on_rcpt is not None:
            self.on_rcpt(address)
        with self._changed:
            action = self._plan.popleft() if self._plan else None
        if action == "drop":
            envelope.drop = True
        elif action is not None:
            return action
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_RSET(self, server: Any, session: Any, envelope: Any) -> str:
        return self.rset_replies.popleft() if self.rset_replies else "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if getattr(envelope, "drop", False):
            server.transport.abort()
            return "421 4.4.2 Connection dropped"
        received = Received(
            envelope.mail_from,
            tuple(envelope.rcpt_tos),
            envelope.original_content,  # the bytes, also where the server decodes them
            datetime.now(UTC),
            tuple(envelope.mail_options),
        )
        if self.on_message is not None:
            self.on_message(received)
        with self._changed:
            self.messages.append(received)
            self._changed.notify_all()
        # The server has the mail now, whenever it answers (content filters take their time).
        self.answering += 1  # one event loop: no lock needed
        self.most_answering = max(self.most_answering, self.answering)
        try:
            await asyncio.sleep(self.delay + self.end_delay)
        finally:
            self.answering -= 1
        return "250 2.0.0 OK queued"


@dataclass
class SmtpServer:
    """The running test server: where it listens and what it received."""

    host: str
    port: int
    sink: MailSink

    def transport(self) -> SmtpTransport:
        return SmtpTransport(self.host, self.port, waits=waits(10.0))


@pytest.fixture
def smtp(smtp_guard: SmtpGuard) -> Iterator[SmtpServer]:
    """Run a real SMTP server on 127.0.0.1 for this test."""
    sink = MailSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    smtp_guard.allowed.add(("127.0.0.1", port))
    try:
        yield SmtpServer("127.0.0.1", port, sink)
    finally:
        controller.stop()


# Time.


@pytest.fixture
def clock() -> Iterator[FrozenDateTimeFactory]:
    """Freeze time at 2026-10-01 12:00 UTC; tests move it with ``clock.move_to(...)``."""
    with freeze_time("2026-10-01 12:00:00", real_asyncio=True) as frozen:
        assert isinstance(frozen, FrozenDateTimeFactory)  # not ticking
        yield frozen


def utc(text: str) -> datetime:
    """Return an aware UTC instant from ``2026-11-03 13:00``."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# What every reminder mail must carry.


def check_mail(received: Received, event_id: str, tokens: Tokens | None = None) -> None:
    """Assert what every reminder mail carries: parts, .ics, list headers, Message-ID."""
    message = received.message
    assert message.get_content_type() == "multipart/mixed"
    assert message["To"] == received.to
    assert received.text().strip()
    assert "<html" in received.html()
    calendars = [
        part for part in message.iter_attachments() if part.get_content_type() == "text/calendar"
    ]
    assert len(calendars) == 1, [p.get_content_type() for p in message.iter_attachments()]
    attachment = calendars[0]
    assert attachment.get_filename() == f"{event_id}.ics"
    assert attachment.get_param("method") == "PUBLISH"
    calendar = icalendar.Calendar.from_ical(attachment.get_content())
    assert calendar["METHOD"] == "PUBLISH"
    uids = [str(entry["UID"]) for entry in calendar.walk("VEVENT")]
    assert f"{event_id}@events.example.org" in uids
    unsubscribe = message["List-Unsubscribe"]
    prefix = f"<{BASE_URL}/unsubscribe/"
    assert unsubscribe.startswith(prefix) and unsubscribe.endswith(">"), unsubscribe
    if tokens is not None:
        tokens.check("unsubscribe", unsubscribe[len(prefix) : -1])
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == "Test events <reminders.events.example.org>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].startswith("<") and message["Message-ID"].endswith(
        "@events.example.org>"
    )


# A project whose worker mails the test server.


@dataclass
class Calfeed:
    """The test's project: config, events, a live catalog and a worker sending to ``smtp``."""

    root: Path
    smtp: SmtpServer
    write_config: Callable[..., Path]
    write_event: Callable[..., Path]
    tokens: Tokens = field(default_factory=lambda: Tokens(SECRET))
    _opened: list[LiveCatalog] = field(default_factory=list)
    _worker: Worker | None = None

    def configure(self, subscribers: list[dict[str, Any]], **overrides: Any) -> None:
        """Write config.yaml: the minimal one with these subscribers and reminder offsets."""
        self.write_config(
            subscribers=subscribers, reminders=overrides.pop("reminders", OFFSETS), **overrides
        )

    def event(self, event_id: str, **fields: Any) -> Path:
        """Write (or rewrite) ``feeds/<event_id>.yaml``."""
        content: dict[str, Any] = {
            "id": event_id,
            "title": f"Webinar {event_id}",
            "topics": ["procurement"],
            "timezone": "Europe/Brussels",
            "start": "2026-11-10T14:00",
            "end": "2026-11-10T16:00",
            "location": "Online",
        }
        content.update(fields)
        return self.write_event(f"{event_id}.yaml", content)

    def open(self) -> LiveCatalog:
        """Open a live catalog on the project (closed when the test ends)."""
        live = LiveCatalog(self.root / "config.yaml")
        self._opened.append(live)
        return live

    @property
    def worker(self) -> Worker:
        """The project's worker, sending to the test server (made on first use)."""
        if self._worker is None:
            self._worker = self.make_worker("worker-a")
        return self._worker

    def make_worker(self, name: str, **options: Any) -> Worker:
        return Worker(self.open(), self.smtp.transport(), self.tokens, name=name, **options)

    def sweep(self) -> list[Received]:
        """Run one sweep of the worker; return the mails it sent."""
        before = len(self.smtp.sink.messages)
        self.worker.sweep()
        return self.smtp.sink.messages[before:]

    @property
    def engine(self) -> sa.Engine:
        return self.worker.live.engine

    def subscriber_id(self, email_address: str) -> int:
        with self.engine.connect() as connection:
            found: int = connection.execute(
                sa.select(subscribers.c.id).where(subscribers.c.email == email_address)
            ).scalar_one()
        return found

    def outbox(self) -> list[dict[str, Any]]:
        """Return every outbox row with its subscriber's address, in due order."""
        query = (
            sa.select(outbox, subscribers.c.email)
            .join(subscribers, subscribers.c.id == outbox.c.subscriber_id)
            .order_by(outbox.c.due_at, outbox.c.id)
        )
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def statuses(self) -> list[tuple[str, str, str, int, str]]:
        """Return (email, event, kind, offset seconds, status) of every outbox row."""
        return [
            (r["email"], r["event_id"], r["kind"], r["offset_seconds"], r["status"])
            for r in self.outbox()
        ]

    def close(self) -> None:
        for live in self._opened:
            live.close()


@pytest.fixture
def calfeed(
    project: Path,
    smtp: SmtpServer,
    write_config: Callable[..., Path],
    write_event: Callable[..., Path],
) -> Iterator[Calfeed]:
    """Return the test's project, driven through a real worker mailing the test server."""
    site = Calfeed(project, smtp, write_config, write_event)
    try:
        yield site
    finally:
        site.close()


# A batch of reminders that are due right now, for the tests that run worker processes.


def due_batch(
    calfeed: Calfeed,
    people: int,
    events: int,
    database: str | None = None,
    connections: int = 1,
) -> int:
    """Write ``people`` x ``events`` reminders, all due now, into the outbox; return how many.

    ``connections``: mail.smtp.connections in config.yaml.
    """
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now + timedelta(minutes=31)  # the 1h reminder came due 29 minutes ago
    extra = {"database": database} if database else {}
    calfeed.configure(
        [{"email": f"person{n:04d}@example.org", "topics": ["procurement"]} for n in range(people)],
        reminders={"before_start": ["1h"]},
        mail={
            "from": "Events <events@example.org>",
            "transport": "smtp",
            "smtp": {
                "host": calfeed.smtp.host,
                "port": calfeed.smtp.port,
                **({"connections": connections} if connections != 1 else {}),
            },
        },
        **extra,
    )
    for n in range(events):
        calfeed.event(
            f"webinar-{n:02d}",
            title=f"Webinar {n}",
            timezone="UTC",
            start=start.strftime("%Y-%m-%dT%H:%M"),
            end=(start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        )
    live = LiveCatalog(calfeed.root / "config.yaml")
    try:
        # The subscribers confirmed two hours ago, when the worker last planned.
        planner.plan(live.engine, live.edition.catalog, now - timedelta(hours=2))
        with live.engine.connect() as connection:
            planned: int = connection.execute(
                sa.select(sa.func.count()).where(outbox.c.status == "planned")
            ).scalar_one()
    finally:
        live.close()
    return planned


# Worker processes of their own, for the tests that kill, stop or race them.

WORKER = textwrap.dedent(
    """
    import logging, signal, sys, threading
    from datetime import timedelta
    from pathlib import Path

    from service.live import LiveCatalog
    from service.reminders.transports import SmtpTransport, Waits
    from service.reminders.worker import Worker
    from service.tokens import Tokens

    config, host, port, name, secret, lease, wait = sys.argv[1:]
    logging.basicConfig(level=logging.WARNING)
    live = LiveCatalog(Path(config))
    worker = Worker(
        live,
        SmtpTransport(host, int(port), waits=Waits(*[float(wait)] * 6)),
        Tokens(secret),
        name=name,
        lease=timedelta(seconds=float(lease)),
        sweep_every=0.5,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worker.start()
    stop.wait()
    worker.stop()
    live.close()
    """
)


def start_worker(
    calfeed: Calfeed, name: str, log: Path, *, lease: float = 2.0, wait: float = 2.0
) -> subprocess.Popen[bytes]:
    """Start a worker process on the project: ``lease`` and every SMTP wait in seconds.

    Its stderr goes into ``log``; it stops on SIGTERM.
    """
    arguments = [str(calfeed.root / "config.yaml"), calfeed.smtp.host, str(calfeed.smtp.port)]
    with log.open("wb") as stderr:  # the child keeps its own copy of the file
        return subprocess.Popen(
            [sys.executable, "-c", WORKER, *arguments, name, SECRET, str(lease), str(wait)],
            cwd=calfeed.root,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


def settled(engine: sa.Engine, count: int, timeout: float) -> bool:
    """Wait (at most ``timeout`` real seconds) until ``count`` reminders are recorded sent."""
    deadline = time.monotonic() + timeout
    query = sa.select(sa.func.count()).where(outbox.c.status == "sent")
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.execute(query).scalar_one() >= count:
                return True
        time.sleep(0.1)
    return False


# The same test on SQLite and on PostgreSQL (``pg_url``: see tests/conftest.py).


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str | None:
    """Run the test on the project's SQLite file (None), then on a PostgreSQL database."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("pg_url")
    return url
