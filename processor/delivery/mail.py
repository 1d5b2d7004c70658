"""``mailto:`` destinations: the payload as the body of a plain-text mail through one SMTP server.

ADF-reading CRMs and people alike read the body, so every format goes in it as ``text/plain``
(UTF-8). The mail's ``Message-ID`` is made from the delivery id, and ``X-Lead-Router-Delivery-Id``
carries it, so that a mailbox rule or a CRM can drop a repeat. ``mailto:a@x.example,b@y.example``
sends one mail to both; a ``subject`` in the URI replaces the default subject.

SMTP replies in the 5xx range refuse the delivery (an unknown mailbox, a message refused); 4xx
replies and connection problems are temporary and retried.

Mail carries leads' personal data, so it is encrypted by default (``SMTP_TLS``): with STARTTLS,
which the server must offer (a server that does not, or a man in the middle that strips the offer,
gets nothing), or with TLS from the first byte (implicit TLS, port 465). Plain SMTP is an explicit
choice for a relay on the same host; the worker then never logs in, since that would send the
password in clear.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import parse_qs, unquote, urlsplit

from processor.delivery.deadline import Deadline
from processor.delivery.outcome import Refused, Unavailable
from processor.delivery.parcel import Parcel
from processor.delivery.tls import client_context
from processor.settings import DeliverySettings

SMTPS_PORT = 465


class MailDestination:
    def __init__(self, uri: str, delivery: DeliverySettings) -> None:
        parts = urlsplit(uri)
        self._recipients = [unquote(address) for address in parts.path.split(",") if address]
        if not self._recipients:
            raise Refused("a mailto: destination without an address")
        self._subject = parse_qs(parts.query).get("subject", [None])[0]
        self._delivery = delivery

    def send(self, parcel: Parcel) -> str:
        delivery = self._delivery
        try:
            message = self._message(parcel)
        except ValueError:  # a line break in an address or the subject, and the like
            raise Refused("cannot write the mail: an address or the subject is not valid") from None
        mode = tls_mode(delivery)
        if mode == "none" and delivery.smtp_username:
            raise Refused(
                "SMTP_TLS=none: the worker does not send the SMTP password over a connection "
                "that is not encrypted"
            )
        timeout = delivery.delivery_timeout_ms / 1000
        # Made without a host, so that connecting too runs within the deadline for the whole
        # exchange: a server that answers one line a second would otherwise hold the worker.
        smtp = (
            smtplib.SMTP_SSL(timeout=timeout, context=self._context())
            if mode == "implicit"
            else smtplib.SMTP(timeout=timeout)
        )
        # The name TLS checks the certificate against; the constructor sets it only when it
        # connects too.
        smtp._host = delivery.smtp_host  # type: ignore[attr-defined]
        deadline = Deadline(timeout, lambda: smtp.sock)
        try:
            with deadline, smtp:
                smtp.connect(delivery.smtp_host, delivery.smtp_port)
                if mode == "starttls":
                    smtp.ehlo()
                    if not smtp.has_extn("starttls"):
                        raise Refused(
                            "the SMTP server does not offer STARTTLS, and the mail would go in "
                            "clear (SMTP_TLS=none allows that, for a local relay only)"
                        )
                    smtp.starttls(context=self._context())
                if delivery.smtp_username:
                    password = delivery.smtp_password
                    smtp.login(
                        delivery.smtp_username, password.get_secret_value() if password else ""
                    )
                refused = smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as error:
            raise _reply_error(min(code for code, _ in error.recipients.values())) from None
        except smtplib.SMTPResponseException as error:
            raise _reply_error(error.smtp_code) from None
        except (smtplib.SMTPException, OSError) as error:
            if deadline.expired or isinstance(error, TimeoutError):
                raise Unavailable(f"no answer: timed out after {deadline.elapsed:.1f} s") from None
            raise Unavailable(f"no answer: {type(error).__name__}: {error}") from None
        if refused:  # some recipients took it: a 4xx for the others sends to all of them again
            raise _reply_error(min(code for code, _ in refused.values()))
        return "SMTP 250"

    def _context(self) -> ssl.SSLContext:
        """Verifies the server's certificate and name, against ``SMTP_CA_FILE`` when it is set."""
        ca_file = self._delivery.smtp_ca_file
        return client_context(str(ca_file) if ca_file else None)

    def _message(self, parcel: Parcel) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self._delivery.smtp_from
        message["To"] = ", ".join(self._recipients)
        message["Subject"] = self._subject or parcel.subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = f"<{parcel.delivery_id}@lead-router>"
        message["X-Lead-Router-Delivery-Id"] = parcel.delivery_id
        message["X-Lead-Router-Lead-Id"] = parcel.lead_id
        message.set_content(parcel.payload, subtype="plain", charset="utf-8")
        return message


def tls_mode(delivery: DeliverySettings) -> str:
    """``SMTP_TLS``, or its default: implicit TLS on port 465 (SMTPS), else STARTTLS."""
    if delivery.smtp_tls is not None:
        return delivery.smtp_tls
    return "implicit" if delivery.smtp_port == SMTPS_PORT else "starttls"


def _reply_error(code: int) -> Refused | Unavailable:
    """A 5xx reply refuses for good; anything lower (4xx) asks to try again later."""
    answer = f"SMTP {code}"
    return Refused(answer) if code >= 500 else Unavailable(answer)
