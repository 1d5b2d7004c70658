"""The reference delivery worker: a partner's delivery topic in, payloads out, one receipt each.

``lead-router deliver --partner ID`` runs a :class:`Worker`. It reads the partner's
``LeadDelivery`` records (read_committed), sends each payload to every destination of the record
(``https://``/``http://`` POST, ``mailto:`` through SMTP, ``file://`` one file per delivery),
retrying temporary failures with backoff, and publishes a ``DeliveryReceipt`` on the receipts topic
in the same Kafka transaction as the consumed offset. The receipts topic is also its memory: a
delivery id with a ``delivered`` receipt is never sent again. ``docs/delivery.md`` says what that
guarantees and where it stops.
"""

from processor.delivery.receipts import read_receipts
from processor.delivery.worker import Worker, WorkerFailed

__all__ = ["Worker", "WorkerFailed", "read_receipts"]
