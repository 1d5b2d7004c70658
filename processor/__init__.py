"""lead-router: routes sales leads on Kafka.

The package reads as the path a lead takes: ``wire`` decodes it, ``geo`` enriches it, ``rules``
routes it, ``formats`` renders it, ``stream`` emits it. ``localkafka`` runs a real single-node
broker for tests and the demo; ``cli`` is the ``lead-router`` command.
"""

__version__ = "0.1.0"
