"""Transports: how a composed mail leaves, and how its failure is classified.

``maildir`` (the embedded default) delivers into a real Maildir that any mail client can
open; ``smtp`` hands mail to a server, with STARTTLS and login, reusing one connection for a
batch. A failure is temporary (an SMTP 4xx reply, a dropped or refused connection: try again
later) or permanent (a 5xx reply: record it and stop).
"""

from __future__ import annotations

import mailbox
import os
import re
import smtplib
import ssl
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import NoReturn, Protocol

from ..catalog.models import MailSettings
from ..errors import CalfeedError


class DeliveryError(CalfeedError):
    """A mail could not be handed over; ``lost``: nor can any other on this connection."""

    def __init__(self, message: str, temporary: bool, lost: bool = False) -> None:
        super().__init__(message)
        self.temporary, self.lost = temporary or lost, lost


def _lost(reason: object) -> DeliveryError:
    """The connection is gone: that says nothing about the mail, so try again later."""
    return DeliveryError(f"connection: {reason}", temporary=True, lost=True)


class Connection(Protocol):
    # The longest that handing over one mail's data may take, from the DATA command to the
    # server's last reply: while it lasts, the mail's row stays this worker's.
    handover: timedelta

    def send(
        self, sender: str, recipient: str, data: bytes, *, go_ahead: Callable[[], bool]
    ) -> bool:
        """Hand one mail over; True if sent, False if ``go_ahead()`` said no.

        ``go_ahead()`` is asked once the envelope is accepted, right before the data goes.
        """
        ...


class Transport(Protocol):
    connections: int  # how many a worker may have open at once

    def connect(self) -> AbstractContextManager[Connection]: ...


class MaildirTransport:
    """Deliver into a Maildir folder (created if missing)."""

    connections = 1  # one folder: more would not deliver faster

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """Open the Maildir for a batch."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        yield _MaildirConnection(mailbox.Maildir(self.path, create=True))


class _MaildirConnection:
    handover = timedelta(minutes=1)

    def __init__(self, box: mailbox.Maildir) -> None:
        self.box = box

    def send(
        self, sender: str, recipient: str, data: bytes, *, go_ahead: Callable[[], bool]
    ) -> bool:
        if not go_ahead():
            return False
        try:
            self.box.add(data)
        except OSError as err:
            raise DeliveryError(f"cannot write to the Maildir: {err}", temporary=True) from err
        return True


@dataclass(frozen=True)
class Waits:
    """How long to wait for each reply of the server, in seconds.

    The defaults are the least RFC 5321 (4.5.3.2) asks of a client. The longest is for the
    reply to the end of the data: the server may check the mail before it answers, and a
    client that gives up too soon sends again a mail the server has already taken.
    """

    greeting: float = 300.0  # the 220 banner, and EHLO, STARTTLS, AUTH
    mail: float = 300.0  # MAIL FROM
    rcpt: float = 300.0  # RCPT TO
    data: float = 120.0  # DATA, until the 354
    block: float = 180.0  # each write of the data
    end: float = 600.0  # the final dot, until the 250

    @property
    def handover(self) -> timedelta:
        """The longest the data of one mail may take to hand over."""
        return timedelta(seconds=self.data + self.block + self.end)


class SmtpTransport:
    """Hand mail to an SMTP server, one connection per batch, ``connections`` batches at once."""

    def __init__(
        self,
        host: str,
        port: int,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        waits: Waits = Waits(),
        connections: int = 1,
    ) -> None:
        self.host, self.port, self.starttls = host, port, starttls
        self.username, self.password, self.waits = username, password, waits
        self.connections = connections

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """Connect, say hello, upgrade to TLS and log in as configured."""
        try:
            client = smtplib.SMTP(self.host, self.port, timeout=self.waits.greeting)
        except (OSError, smtplib.SMTPException) as err:
            raise _classified(err) from err
        try:
            try:
                client.ehlo()
                if self.starttls:
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
                if self.username:
                    client.login(self.username, self.password or "")
            except (OSError, smtplib.SMTPException) as err:
                raise _classified(err) from err
            yield _SmtpConnection(client, self.waits)
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()


_LEADING_DOT = re.compile(rb"(?m)^\.")


class _SmtpConnection:
    def __init__(self, client: smtplib.SMTP, waits: Waits) -> None:
        self.client, self.waits = client, waits
        self.handover = waits.handover
        # Text parts go out as 8-bit UTF-8: say so where the server understands it.
        self.options = ["BODY=8BITMIME"] if client.has_extn("8bitmime") else []
        self.utf8 = client.has_extn("smtputf8")

    def send(
        self, sender: str, recipient: str, data: bytes, *, go_ahead: Callable[[], bool]
    ) -> bool:
        options = self.options
        self.client.command_encoding = "ascii"
        if not (sender.isascii() and recipient.isascii()):
            if not self.utf8:
                raise DeliveryError(
                    f"{recipient}: the mail server does not take addresses beyond ASCII "
                    "(no SMTPUTF8)",
                    temporary=False,
                )
            options = [*options, "SMTPUTF8"]
            self.client.command_encoding = "utf-8"
        self._expect(self.waits.mail, lambda: self.client.mail(sender, options), 250)
        self._expect(self.waits.rcpt, lambda: self.client.rcpt(recipient), 250, 251)
        if not go_ahead():
            self._expect(self.waits.mail, self.client.rset, 250)
            return False
        self._expect(self.waits.data, lambda: self.client.docmd("data"), 354)
        # As smtplib's data(): a leading dot doubled, the end marked by a line with a dot.
        data = _LEADING_DOT.sub(b"..", data)
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        self._expect(self.waits.block, lambda: self.client.send(data + b".\r\n"))
        self._expect(self.waits.end, self.client.getreply, 250)
        return True

    def _expect(
        self, wait: float, step: Callable[[], tuple[int, bytes] | None], *codes: int
    ) -> None:
        """Run one step of the exchange within ``wait`` seconds; raise on a reply not in codes."""
        try:
            assert self.client.sock is not None  # connected for the whole batch
            self.client.sock.settimeout(wait)
            reply = step()
        except (OSError, smtplib.SMTPException) as err:
            raise _classified(err) from err
        if reply is not None and reply[0] not in codes:
            self._refused(*reply)

    def _refused(self, code: int, reply: bytes | str) -> NoReturn:
        """Raise the server's refusal, leaving the connection ready for the next mail."""
        text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
        failure = DeliveryError(f"{code} {text}", temporary=code < 500)
        if code == 421:  # the server is closing the connection
            self.client.close()
            raise _lost(failure) from failure
        try:
            code, _ = self.client.rset()  # end the transaction
        except (OSError, smtplib.SMTPException) as err:
            raise _lost(f"{failure}, then {err}") from err
        if code != 250:
            self.client.close()
            raise _lost(f"{failure}, then RSET: {code}") from failure
        raise failure


def _classified(err: Exception) -> DeliveryError:
    if isinstance(err, smtplib.SMTPRecipientsRefused) and err.recipients:
        code, reply = next(iter(err.recipients.values()))
        return DeliveryError(f"{code} {reply.decode(errors='replace')}", temporary=code < 500)
    if isinstance(err, smtplib.SMTPResponseException):
        raw: bytes | str = err.smtp_error
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        return DeliveryError(f"{err.smtp_code} {text}", temporary=err.smtp_code < 500)
    return _lost(err)


def transport_for(
    settings: MailSettings, environ: dict[str, str] | os._Environ[str] = os.environ
) -> Transport:
    """Return the transport config.yaml asks for."""
    if settings.transport == "maildir":
        return MaildirTransport(settings.maildir)
    smtp = settings.smtp
    password = environ.get(smtp.password_env) if smtp.password_env else None
    if smtp.password_env and password is None:
        raise CalfeedError(f"mail.smtp.password_env: ${smtp.password_env} is not set")
    return SmtpTransport(
        smtp.host, smtp.port, smtp.starttls, smtp.username, password, connections=smtp.connections
    )
