"""How nurture's email leaves: the :class:`Mailer` port and its SMTP adapter.

Locally the SMTP server is Mailpit (deploy/mailpit/mailpit.sh); in production any relay,
by settings (``LEADBRIDGE_NURTURE_SMTP_*``). ``services/nurture/tests/fakes.py`` has the
fake the handlers' unit tests send through."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
import threading
from email.message import EmailMessage
from typing import Literal, Protocol


class MessageRejected(Exception):
    """The mail system refused this message for good (a 5xx answer: bad recipient, policy):
    sending it again would not help. Any other error is transient and the message is retried."""


class Mailer(Protocol):
    """Hands one message to the mail system; returns once it was accepted, raises
    :class:`MessageRejected` if it is refused for good, any other error if it may be retried."""

    async def send(self, message: EmailMessage) -> None: ...


class SmtpMailer:
    """SMTP through the standard library's ``smtplib``, run in a worker thread so the
    event loop is not blocked. One connection is kept and reused (a new connection per
    message costs far more than the message); a dropped one is reopened once per send.
    ``security``: none (Mailpit), ``starttls`` or ``tls``."""

    def __init__(self, host: str, port: int, username: str | None = None, password: str | None = None,
                 security: Literal["none", "starttls", "tls"] = "none", timeout_s: float = 30.0) -> None:
        self.host, self.port, self.username, self.password = host, port, username, password
        self.security, self.timeout_s = security, timeout_s
        self._smtp: smtplib.SMTP | None = None
        self._lock = threading.Lock()

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._send, message)

    def _connect(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.security == "tls":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)
        if self.security == "starttls":
            smtp.starttls(context=context)
        if self.username:
            smtp.login(self.username, self.password or "")
        return smtp

    def _send(self, message: EmailMessage) -> None:
        with self._lock:
            for attempt in (1, 2):
                if self._smtp is None:
                    self._smtp = self._connect()
                try:
                    self._smtp.send_message(message)
                    return
                except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as refused:
                    raise MessageRejected(str(refused)) from refused
                except smtplib.SMTPDataError as refused:
                    if 500 <= refused.smtp_code < 600:
                        raise MessageRejected(str(refused)) from refused
                    raise
                except (smtplib.SMTPServerDisconnected, ConnectionError, TimeoutError):
                    self._close()
                    if attempt == 2:
                        raise

    def _close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.close()
            except OSError:
                pass
