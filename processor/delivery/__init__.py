"""The reference delivery worker: a partner's deliveries in, payloads out, a receipt per attempt.

``lead-router deliver --partner ID`` runs a :class:`Worker`. It reads the partner's
``LeadDelivery`` records (read_committed), sends each payload to every destination the rules give
the partner (``https://``/``http://`` POST, ``mailto:`` through SMTP, ``file://`` one file per
delivery), trying temporary failures again at once with backoff, and publishes a
``DeliveryReceipt`` on the receipts topic in the same Kafka transaction as the consumed offset. A
failed attempt waits on the partner's retry topics for the next, as the partner's schedule says;
one that runs out of retries, or is refused, is given up on or handed back to be offered to the
next candidate. The receipts topic is also its memory: a delivery that is done (delivered, or
handed back) is never sent again. ``docs/delivery.md`` says what that guarantees and where it
stops."""

from processor.delivery.receipts import read_receipts
from processor.delivery.worker import Worker, WorkerFailed

__all__ = ["Worker", "WorkerFailed", "read_receipts"]
