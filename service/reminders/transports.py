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
    def send(
        self,
        sender: str,
        recipient: str,
        *,
        meanwhile: Callable[[], None],
        still_due: Callable[[], bool],
        compose: Callable[[], bytes],
    ) -> bool:
        """Send one mail if ``still_due()``, made of ``compose()``'s bytes; True if sent.

        ``meanwhile()`` runs first. Over SMTP each runs while the server reads one command
        of the mail (MAIL FROM, RCPT TO, DATA), so the sender's own work adds no wait.
        """
        ...


class Transport(Protocol):
    def connect(self) -> AbstractContextManager[Connection]: ...


class MaildirTransport:
    """Deliver into a Maildir folder (created if missing)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """Open the Maildir for a batch."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        yield _MaildirConnection(mailbox.Maildir(self.path, create=True))


class _MaildirConnection:
    def __init__(self, box: mailbox.Maildir) -> None:
        self.box = box

    def send(
        self,
        sender: str,
        recipient: str,
        *,
        meanwhile: Callable[[], None],
        still_due: Callable[[], bool],
        compose: Callable[[], bytes],
    ) -> bool:
        meanwhile()
        if not still_due():
            return False
        data = compose()
        try:
            self.box.add(data)
        except OSError as err:
            raise DeliveryError(f"cannot write to the Maildir: {err}", temporary=True) from err
        return True


class SmtpTransport:
    """Hand mail to an SMTP server, one connection per batch."""

    def __init__(
        self,
        host: str,
        port: int,
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.host, self.port, self.starttls = host, port, starttls
        self.username, self.password, self.timeout = username, password, timeout

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """Connect, say hello, upgrade to TLS and log in as configured."""
        try:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
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


_LEADING_DOT = re.compile(rb"(?m)^\.")


class _SmtpConnection:
    def __init__(self, client: smtplib.SMTP) -> None:
        self.client = client
        # Text parts go out as 8-bit UTF-8: say so where the server understands it.
        self.options = " BODY=8BITMIME" if client.has_extn("8bitmime") else ""
        self.utf8 = client.has_extn("smtputf8")

    def send(
        self,
        sender: str,
        recipient: str,
        *,
        meanwhile: Callable[[], None],
        still_due: Callable[[], bool],
        compose: Callable[[], bytes],
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
            options += " SMTPUTF8"
            self.client.command_encoding = "utf-8"
        # Each command goes out first; the caller's work runs while the server answers it.
        self._put("mail", f"FROM:{smtplib.quoteaddr(sender)}{options}")
        meanwhile()
        self._expect(250)
        self._put("rcpt", f"TO:{smtplib.quoteaddr(recipient)}")
        due = still_due()
        self._expect(250, 251)
        if not due:
            self._put("rset", "")
            self._expect(250)
            return False
        self._put("data", "")
        data = compose()
        self._expect(354)
        # As smtplib's data(): a leading dot doubled, the end marked by a line with a dot.
        data = _LEADING_DOT.sub(b"..", data)
        if not data.endswith(b"\r\n"):
            data += b"\r\n"
        try:
            self.client.send(data + b".\r\n")
        except (OSError, smtplib.SMTPException) as err:
            raise _classified(err) from err
        self._expect(250)
        return True

    def _put(self, command: str, argument: str) -> None:
        try:
            self.client.putcmd(command, argument)
        except (OSError, smtplib.SMTPException) as err:
            raise _classified(err) from err

    def _expect(self, *codes: int) -> None:
        try:
            code, reply = self.client.getreply()
        except (OSError, smtplib.SMTPException) as err:
            raise _classified(err) from err
        if code not in codes:
            self._refused(code, reply)

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
    return SmtpTransport(smtp.host, smtp.port, smtp.starttls, smtp.username, password)
