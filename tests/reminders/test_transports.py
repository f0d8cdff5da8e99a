"""Transports (``service/reminders/transports.py``): a real Maildir, a real SMTP server.

A failure must be classified the way the sender relies on: a 4xx reply or a lost
connection is temporary (try again), a 5xx reply is permanent and keeps the server's words.
"""

from __future__ import annotations

import email
import mailbox
import smtplib
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from email import policy
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from freezegun.api import FrozenDateTimeFactory
from ports import free_port

from service.errors import CalfeedError
from service.live import LiveCatalog
from service.reminders.transports import (
    Connection,
    DeliveryError,
    MaildirTransport,
    SmtpTransport,
    Waits,
    transport_for,
)
from service.reminders.worker import worker_for
from service.tokens import Tokens, secret_key

from .conftest import (
    Calfeed,
    MailSink,
    Received,
    SmtpGuard,
    SmtpServer,
    check_mail,
    utc,
    waits,
)


def note(to: str = "ann@example.org", subject: str = "Hello") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Events <events@example.org>"
    message["To"] = to
    message["Subject"] = subject
    message.set_content("Body text: Łódź – 14:00\n")
    return message


def with_html(message: EmailMessage) -> EmailMessage:
    """Add an HTML part beside the text, 8-bit as the reminders' own."""
    message.add_alternative("<p>Łódź – 14:00</p>\n", subtype="html", cte="8bit")
    return message


def send(
    connection: Connection, message: EmailMessage, go_ahead: Callable[[], bool] = lambda: True
) -> bool:
    """Send a composed mail to its To address; return whether it went."""
    _, sender = parseaddr(str(message["From"]))
    return connection.send(sender, str(message["To"]), message, go_ahead=go_ahead)


def test_maildir_delivery_is_readable_by_a_mail_client(
    calfeed: Calfeed,
    clock: FrozenDateTimeFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CALFEED_SECRET_KEY", "maildir-test-key")
    calfeed.configure(
        [
            {"email": "ann@example.org", "topics": ["procurement"]},
            {"email": "bob@example.org", "topics": ["procurement"], "timezone": "Asia/Tokyo"},
        ],
        mail={"from": "Events <events@example.org>", "transport": "maildir", "maildir": "var/mail"},
    )
    calfeed.event("webinar", title="Circular Cities Webinar")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # relative paths start at config.yaml, not here
    live = LiveCatalog(calfeed.root / "config.yaml")
    try:
        worker = worker_for(live, name="maildir-worker")
        worker.sweep()
        clock.move_to("2026-11-03 13:00:00")
        outcome = worker.sweep()
    finally:
        live.close()

    assert outcome is not None and outcome.sent == 2
    assert not (elsewhere / "var").exists()
    box = mailbox.Maildir(calfeed.root / "var" / "mail", create=False)
    messages = [box.get_message(key) for key in box.keys()]
    assert len(messages) == 2
    assert all(m.get_subdir() == "new" for m in messages)  # unread, as a client expects
    tokens = Tokens(secret_key(calfeed.root / "var"))
    by_address = {}
    for key in box.keys():
        data = box.get_bytes(key)
        to = email.message_from_bytes(data, policy=policy.default)["To"]
        received = Received("", (to,), data, utc("2026-11-03 13:00"))
        check_mail(received, "webinar", tokens)
        by_address[to] = received
    assert sorted(by_address) == ["ann@example.org", "bob@example.org"]
    assert by_address["ann@example.org"].message["From"] == "Events <events@example.org>"
    assert (
        "When: Tue, 10 Nov 2026, 22:00 JST – Wed, 11 Nov 2026, 00:00 JST (Asia/Tokyo); "
        "Tue, 10 Nov 2026, 14:00–16:00 CET (Europe/Brussels)"
    ) in by_address["bob@example.org"].text()


def test_smtp_hands_the_mail_over_with_its_envelope(smtp: SmtpServer) -> None:
    with smtp.transport().connect() as connection:
        send(connection, note("ann@example.org", "First"))
        send(connection, note("bob@example.org", "Second"))

    (first, second) = smtp.sink.wait_for(2, timeout=5)
    assert (first.mail_from, first.rcpt_tos, first.subject) == (
        "events@example.org",
        ("ann@example.org",),
        "First",
    )
    assert second.rcpt_tos == ("bob@example.org",)
    assert first.text() == "Body text: Łódź – 14:00\n"


def test_a_4xx_reply_is_a_temporary_failure_and_the_connection_goes_on(
    smtp: SmtpServer,
) -> None:
    smtp.sink.fail_next(1, "451 4.7.1 Greylisted, please try again later")
    with smtp.transport().connect() as connection:
        with pytest.raises(DeliveryError) as failure:
            send(connection, note(subject="Greylisted"))
        send(connection, note(subject="Accepted"))

    assert failure.value.temporary
    assert str(failure.value) == "451 4.7.1 Greylisted, please try again later"
    assert smtp.sink.subjects == ["Accepted"]


def test_a_5xx_reply_is_a_permanent_failure_with_the_servers_words(smtp: SmtpServer) -> None:
    smtp.sink.refused["nobody@example.org"] = "550 5.1.1 <nobody@example.org>: User unknown"
    with smtp.transport().connect() as connection:
        with pytest.raises(DeliveryError) as failure:
            send(connection, note("nobody@example.org"))

    assert not failure.value.temporary
    assert str(failure.value) == "550 5.1.1 <nobody@example.org>: User unknown"
    assert smtp.sink.messages == []


def test_a_refused_sender_is_a_failure_with_the_servers_words(smtp: SmtpServer) -> None:
    smtp.sink.refused["events@example.org"] = "553 5.7.1 Sender address rejected"
    asked: list[str] = []

    def go_ahead() -> bool:
        asked.append("ann")
        return True

    with smtp.transport().connect() as connection:
        with pytest.raises(DeliveryError) as failure:
            send(connection, note(), go_ahead)

    assert not failure.value.temporary
    assert str(failure.value) == "553 5.7.1 Sender address rejected"
    assert asked == []  # the envelope was refused before the data could go
    assert smtp.sink.messages == []


def test_a_mail_told_not_to_go_ahead_is_not_sent_and_the_connection_goes_on(
    smtp: SmtpServer,
) -> None:
    with smtp.transport().connect() as connection:
        sent = send(connection, note("ann@example.org", "No longer due"), lambda: False)
        send(connection, note("bob@example.org", "Still due"))

    assert sent is False
    assert [(m.rcpt_tos, m.subject) for m in smtp.sink.messages] == [
        (("bob@example.org",), "Still due")
    ]


def test_a_mail_told_not_to_go_ahead_is_not_written_to_the_maildir(tmp_path: Path) -> None:
    with MaildirTransport(tmp_path / "mail").connect() as connection:
        assert send(connection, note(subject="No longer due"), lambda: False) is False
        assert send(connection, note(subject="Still due"))

    box = mailbox.Maildir(tmp_path / "mail")
    assert [box.get_message(key)["Subject"] for key in box.keys()] == ["Still due"]


def test_an_address_beyond_ascii_goes_out_where_the_server_takes_smtputf8(
    smtp: SmtpServer,
) -> None:
    with smtp.transport().connect() as connection:
        send(connection, note("jörg@example.org", "Grüße"))
        send(connection, note("bob@example.org", "Next"))

    first, second = smtp.sink.wait_for(2, timeout=5)
    assert (first.rcpt_tos, first.subject) == (("jörg@example.org",), "Grüße")
    assert second.rcpt_tos == ("bob@example.org",)


def test_an_address_beyond_ascii_fails_for_good_where_the_server_cannot_take_it(
    smtp_guard: SmtpGuard,
) -> None:
    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=False)
    controller.start()
    smtp_guard.allowed.add(("127.0.0.1", controller.port))
    try:
        with SmtpTransport("127.0.0.1", controller.port, waits=waits(10)).connect() as connection:
            with pytest.raises(DeliveryError) as failure:
                send(connection, note("jörg@example.org", "Not deliverable here"))
            send(connection, note("bob@example.org", "Next"))
        received = sink.wait_for(1, timeout=5)
    finally:
        controller.stop()

    assert not failure.value.temporary
    assert str(failure.value) == (
        "jörg@example.org: the mail server does not take addresses beyond ASCII (no SMTPUTF8)"
    )
    assert [m.rcpt_tos for m in received] == [("bob@example.org",)]


def test_text_beyond_ascii_goes_as_written_with_8bitmime_where_the_server_takes_it(
    smtp: SmtpServer,
) -> None:
    with smtp.transport().connect() as connection:
        send(connection, with_html(note()))

    (received,) = smtp.sink.wait_for(1, timeout=5)
    assert "BODY=8BITMIME" in received.mail_options
    assert "Body text: Łódź – 14:00\r\n".encode() in received.data
    assert received.text() == "Body text: Łódź – 14:00\n"
    assert received.html() == "<p>Łódź – 14:00</p>\n"


def test_a_server_without_8bitmime_gets_only_7_bit_bytes_and_the_same_text(
    smtp_guard: SmtpGuard,
) -> None:
    # It offers no 8BITMIME (it decodes what it gets), nor SMTPUTF8: it answers 500 to any
    # byte beyond ASCII.
    sink = MailSink()
    controller = Controller(
        sink, hostname="127.0.0.1", port=free_port(), decode_data=True, enable_SMTPUTF8=False
    )
    controller.start()
    smtp_guard.allowed.add(("127.0.0.1", controller.port))
    try:
        with SmtpTransport("127.0.0.1", controller.port, waits=waits(10)).connect() as connection:
            assert send(connection, with_html(note(subject="Łódź")))
        (received,) = sink.wait_for(1, timeout=5)
    finally:
        controller.stop()

    assert not [o for o in received.mail_options if o.startswith("BODY=")]
    assert received.data.isascii()
    assert received.subject == "Łódź"
    assert received.text() == "Body text: Łódź – 14:00\n"
    assert received.html() == "<p>Łódź – 14:00</p>\n"


def test_each_reply_is_waited_for_as_long_as_its_own_step_allows(smtp: SmtpServer) -> None:
    # The server takes 1 s over each reply to MAIL and RCPT: within the wait for MAIL,
    # beyond the one for RCPT.
    smtp.sink.delay = 1.0
    transport = SmtpTransport(
        smtp.host, smtp.port, waits=Waits(greeting=5, mail=5, rcpt=0.3, data=5, block=5, end=5)
    )
    started = time.monotonic()
    with pytest.raises(DeliveryError) as failure:
        with transport.connect() as connection:
            send(connection, note())
    took = time.monotonic() - started

    assert failure.value.lost and failure.value.temporary
    assert str(failure.value).startswith("connection:")
    assert 1.0 + 0.3 <= took < 1.9  # MAIL's reply came, RCPT's was given up on
    assert smtp.sink.messages == []


def test_a_mail_that_cannot_be_written_fails_for_now_and_the_connection_goes_on(
    smtp: SmtpServer, tmp_path: Path
) -> None:
    unwritable = note()
    unwritable.set_payload("Half a character: \ud800\n")  # a lone surrogate
    with smtp.transport().connect() as connection:
        with pytest.raises(DeliveryError) as failure:
            send(connection, unwritable)
        assert send(connection, note(subject="Next"))
    with MaildirTransport(tmp_path / "mail").connect() as connection:
        with pytest.raises(DeliveryError) as in_maildir:
            send(connection, unwritable)

    for error in (failure.value, in_maildir.value):
        assert error.temporary and not error.lost
        assert str(error).startswith("cannot write the mail: "), error
    assert [(m.rcpt_tos, m.subject) for m in smtp.sink.messages] == [(("ann@example.org",), "Next")]
    assert list(mailbox.Maildir(tmp_path / "mail")) == []


class ScriptedServer:
    """An SMTP server on a bare socket that answers each DATA command as told.

    aiosmtpd always answers DATA with 354; real servers may refuse it (no valid recipient
    left, or shutting down). Every command it reads is kept, in order.
    """

    def __init__(self, data_replies: list[str]) -> None:
        self.data_replies = deque(data_replies)
        self.commands: list[str] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        connection, _ = self.listener.accept()
        with connection, connection.makefile("rb") as lines:

            def say(reply: str) -> None:
                connection.sendall(reply.encode() + b"\r\n")

            say("220 scripted ESMTP")
            for raw in lines:
                command = raw.decode().rstrip("\r\n")
                self.commands.append(command.split(" ")[0].upper())
                verb = self.commands[-1]
                if verb == "EHLO":
                    say("250-scripted\r\n250 8BITMIME")
                elif verb == "DATA":
                    reply = self.data_replies.popleft()
                    say(reply)
                    if reply.startswith("354"):
                        for line in lines:
                            if line == b".\r\n":
                                break
                        say("250 2.0.0 OK queued")
                    elif reply.startswith("421"):
                        return
                elif verb == "QUIT":
                    say("221 Bye")
                    return
                else:
                    say("250 OK")

    def close(self) -> None:
        self.listener.close()
        self.thread.join(5)


@pytest.fixture
def scripted(smtp_guard: SmtpGuard) -> Iterator[Callable[[list[str]], ScriptedServer]]:
    """Start a scripted server (one connection) with the replies its DATA commands get."""
    servers: list[ScriptedServer] = []

    def start(data_replies: list[str]) -> ScriptedServer:
        server = ScriptedServer(data_replies)
        smtp_guard.allowed.add(("127.0.0.1", server.port))
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def test_a_refused_data_command_is_a_failure_with_the_servers_words_and_the_connection_goes_on(
    scripted: Callable[[list[str]], ScriptedServer],
) -> None:
    server = scripted(["554 5.5.1 No valid recipients", "354 Go ahead"])
    with SmtpTransport("127.0.0.1", server.port, waits=waits(5)).connect() as connection:
        with pytest.raises(DeliveryError) as failure:
            send(connection, note(subject="Refused"))
        assert send(connection, note(subject="Next"))

    assert not failure.value.temporary and not failure.value.lost
    assert str(failure.value) == "554 5.5.1 No valid recipients"
    # The refused transaction is ended before the next one begins.
    assert server.commands == [
        *("EHLO", "MAIL", "RCPT", "DATA", "RSET"),
        *("MAIL", "RCPT", "DATA", "QUIT"),
    ]


def test_a_server_closing_at_the_data_command_loses_the_connection(
    scripted: Callable[[list[str]], ScriptedServer],
) -> None:
    server = scripted(["421 4.3.2 Service shutting down, closing channel"])
    with pytest.raises(DeliveryError) as failure:
        with SmtpTransport("127.0.0.1", server.port, waits=waits(5)).connect() as connection:
            send(connection, note())

    assert failure.value.lost and failure.value.temporary
    assert str(failure.value) == "connection: 421 4.3.2 Service shutting down, closing channel"
    assert server.commands == ["EHLO", "MAIL", "RCPT", "DATA"]  # nothing more on it


def test_a_dropped_connection_is_a_temporary_connection_failure(smtp: SmtpServer) -> None:
    smtp.sink.drop_next(1)
    with pytest.raises(DeliveryError) as failure:
        with smtp.transport().connect() as connection:
            send(connection, note())

    assert failure.value.temporary
    assert str(failure.value).startswith("connection:")
    assert smtp.sink.messages == []


def test_a_refused_connection_is_a_temporary_connection_failure(smtp_guard: SmtpGuard) -> None:
    port = free_port()  # nothing listens there
    smtp_guard.allowed.add(("127.0.0.1", port))
    with pytest.raises(DeliveryError) as failure:
        with SmtpTransport("127.0.0.1", port, waits=waits(5)).connect():
            pass

    assert failure.value.temporary
    assert str(failure.value).startswith("connection:")


def test_the_guard_fails_a_test_that_would_mail_a_real_host(smtp_guard: SmtpGuard) -> None:
    with pytest.raises(pytest.fail.Exception, match="real SMTP connection"):
        with SmtpTransport("mail.example.org", 25, waits=waits(1)).connect():
            pass
    with pytest.raises(pytest.fail.Exception, match="real SMTP connection"):
        smtplib.SMTP("localhost", 587, timeout=1)

    assert smtp_guard.violations == ["smtplib to mail.example.org:25", "smtplib to localhost:587"]
    smtp_guard.violations.clear()  # this test provoked them on purpose


def test_smtp_settings_come_from_config_yaml_and_the_password_from_the_environment(
    calfeed: Calfeed, clock: FrozenDateTimeFactory
) -> None:
    calfeed.configure(
        [],
        mail={
            "transport": "smtp",
            "smtp": {"host": "127.0.0.1", "port": 2525, "username": "u", "password_env": "PW_X"},
        },
    )
    live = calfeed.open()
    settings = live.edition.catalog.config.mail

    with pytest.raises(CalfeedError, match=r"mail.smtp.password_env: \$PW_X is not set"):
        transport_for(settings, environ={})
    transport = transport_for(settings, environ={"PW_X": "s3cret"})
    assert isinstance(transport, SmtpTransport)
    assert (transport.host, transport.port, transport.username, transport.password) == (
        "127.0.0.1",
        2525,
        "u",
        "s3cret",
    )
