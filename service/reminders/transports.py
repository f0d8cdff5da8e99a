"""Transports: how a composed mail leaves, and how its failure is classified.

``maildir`` (the embedded default) delivers into a real Maildir that any mail client can
open; ``smtp`` hands mail to a server, with STARTTLS and login, reusing one connection for a
batch. A failure is temporary (an SMTP 4xx reply, a dropped or refused connection: try again
later) or permanent (a 5xx reply: record it and stop).

The SMTP exchange is smtplib's: ``send_message`` flattens the mail, asks for SMTPUTF8 when
an address goes beyond ASCII, and sends MAIL, RCPT and DATA. A small subclass of
``smtplib.SMTP`` (``_Client``) adds what calfeed needs on top:

- right before DATA, once the server accepted the envelope, it asks ``go_ahead()`` (the
  sender's last check that the mail still applies and its row is still this worker's); on
  no, the transaction ends with RSET and nothing of the mail goes;
- each step waits as long as RFC 5321 (4.5.3.2) gives it (``Waits``). smtplib has one socket
  timeout; the subclass sets it before each command to that command's wait, under which the
  reply is read, and around the data to the wait for writing it (in one ``sendall``, whose
  timeout covers the whole write) and then to the 10 minutes for the reply to the final dot;
- a refused DATA ends the transaction as smtplib does for a refused MAIL or RCPT, and a
  server that will not RSET is hung up on.

A 421 reply, or any other way the connection ends, is a lost connection: that mail and the
rest of the batch wait for another. Text parts are 8-bit: ``BODY=8BITMIME`` where the server
offers it, and written in base64 where it does not, so no server gets 8-bit data it never
agreed to take.
"""

from __future__ import annotations

import copy
import mailbox
import os
import smtplib
import ssl
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..catalog.models import MailSettings
from ..errors import CalfeedError

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


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
        self, sender: str, recipient: str, message: EmailMessage, *, go_ahead: Callable[[], bool]
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
        self, sender: str, recipient: str, message: EmailMessage, *, go_ahead: Callable[[], bool]
    ) -> bool:
        # An address beyond ASCII is written as it is, as it would go out with SMTPUTF8.
        utf8 = not recipient.isascii()
        try:
            data = message.as_bytes(policy=SMTPUTF8 if utf8 else SMTP)
        except ValueError as err:
            raise _unwritable(err) from err
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
    block: float = 180.0  # writing the data (one sendall: the whole write)
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
            client = _Client(self.host, self.port, self.waits)
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
            yield _SmtpConnection(client)
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()


class _CalledOff(Exception):
    """``go_ahead()`` said no: the mail must not go."""


class _Client(smtplib.SMTP):
    """smtplib's client with a wait of its own for each step, and a last check before DATA."""

    def __init__(self, host: str, port: int, waits: Waits) -> None:
        self.waits = waits
        self.go_ahead: Callable[[], bool] = lambda: True  # set for each mail
        # Each command's wait for its reply; the others (EHLO, AUTH, QUIT) have the greeting's.
        self._wait_of = {"mail": waits.mail, "rcpt": waits.rcpt, "rset": waits.mail}
        self._wait_of["data"] = waits.data  # until the 354
        super().__init__(host, port, timeout=waits.greeting)

    def putcmd(self, cmd: str, args: str = "") -> None:
        """Send a command, and wait for its reply as long as RFC 5321 gives it."""
        self._wait(self._wait_of.get(cmd.lower(), self.waits.greeting))
        super().putcmd(cmd, args)

    def send(self, s: ReadableBuffer | str) -> None:
        """Send a command (text) or a mail's data (bytes, its final dot included)."""
        if isinstance(s, str):
            super().send(s)
            return
        self._wait(self.waits.block)
        super().send(s)
        self._wait(self.waits.end)  # for the reply to the final dot

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        """Send DATA and the mail if ``go_ahead()`` still says so; raise _CalledOff if not."""
        if not self.go_ahead():
            raise _CalledOff
        try:
            return super().data(msg)
        except smtplib.SMTPDataError as err:  # no 354: smtplib leaves the transaction open
            if err.smtp_code == 421:
                self.close()
            else:
                with suppress(smtplib.SMTPServerDisconnected):
                    self.rset()
            raise

    def rset(self) -> tuple[int, bytes]:
        """End the mail transaction; close the connection if the server will not."""
        code, reply = super().rset()
        if code != 250:
            self.close()
        return code, reply

    def _wait(self, seconds: float) -> None:
        if self.sock is not None:
            self.sock.settimeout(seconds)


class _SmtpConnection:
    def __init__(self, client: _Client) -> None:
        self.client = client
        self.handover = client.waits.handover
        # Text parts are 8-bit UTF-8: said so where the server takes it, base64 where not.
        self.eight_bit = client.has_extn("8bitmime")
        self.utf8 = client.has_extn("smtputf8")

    def send(
        self, sender: str, recipient: str, message: EmailMessage, *, go_ahead: Callable[[], bool]
    ) -> bool:
        client = self.client
        options: list[str] = []
        if not (sender.isascii() and recipient.isascii()):
            if not self.utf8:
                raise DeliveryError(
                    f"{recipient}: the mail server does not take addresses beyond ASCII "
                    "(no SMTPUTF8)",
                    temporary=False,
                )
            # send_message() asks for SMTPUTF8 and BODY=8BITMIME itself.
        elif self.eight_bit:
            options.append("BODY=8BITMIME")
        else:
            message = _seven_bit(message)
        client.go_ahead = go_ahead
        try:
            client.send_message(message, sender, [recipient], mail_options=options)
        except _CalledOff:
            self._call_off()
            return False
        except ValueError as err:  # before the data: the mail cannot be written as it is
            self._call_off()
            raise _unwritable(err) from err
        except (OSError, smtplib.SMTPException) as err:
            failure = _classified(err)
            if client.sock is None and not failure.lost:  # the server closed, or will not RSET
                raise _lost(failure) from err
            raise failure from err
        return True

    def _call_off(self) -> None:
        """End the transaction whose envelope the server accepted, leaving the data unsent."""
        try:
            code, reply = self.client.rset()
        except (OSError, smtplib.SMTPException) as err:
            raise _classified(err) from err
        if code != 250:
            raise _lost(f"{code} {reply.decode(errors='replace')}")


def _unwritable(err: ValueError) -> DeliveryError:
    """The mail holds what cannot be written (a header or an address): try again later."""
    return DeliveryError(f"cannot write the mail: {err}", temporary=True)


def _seven_bit(message: EmailMessage) -> EmailMessage:
    """Return ``message`` to be written for a server without 8BITMIME: 8-bit parts in base64."""
    seven = copy.copy(message)  # the headers and parts are shared; flattening changes neither
    seven.policy = message.policy.clone(cte_type="7bit")
    return seven


def _classified(err: Exception) -> DeliveryError:
    if isinstance(err, smtplib.SMTPRecipientsRefused) and err.recipients:
        code, reply = next(iter(err.recipients.values()))
        return _reply(code, reply)
    if isinstance(err, smtplib.SMTPResponseException):
        return _reply(err.smtp_code, err.smtp_error)
    return _lost(err)


def _reply(code: int, reply: bytes | str) -> DeliveryError:
    """The server's refusal: temporary (4xx) or permanent (5xx), in the server's words."""
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else reply
    failure = DeliveryError(f"{code} {text}", temporary=code < 500)
    return _lost(failure) if code == 421 else failure  # 421: the server closes the connection


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
