"""The TLS settings every encrypted delivery uses, built once.

Building a context loads the system's CA certificates: about 50 ms, more than many deliveries
take. The context is the same for every delivery of a process (or of one CA file), so it is made
once and shared; an ``SSLContext`` may serve many connections at once.
"""

from __future__ import annotations

import ssl
from functools import cache


@cache
def client_context(ca_file: str | None = None) -> ssl.SSLContext:
    """Verifies servers' certificates and names, against ``ca_file`` when given, else the
    system's CAs."""
    return ssl.create_default_context(cafile=ca_file)
