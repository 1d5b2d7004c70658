"""lead-router: routes sales leads on Kafka.

The package reads as the path a lead takes: ``wire`` decodes it, ``geo`` enriches it, ``rules``
routes it, ``formats`` renders it, and ``pipeline`` joins those steps for one record; ``stream``
runs the pipeline over the input topic in transactions, with its ``state`` (per-partition stores
restored from a changelog) beside it. ``control`` is the control plane (the rules on the config
topic, and their history); ``delivery`` the worker that sends a partner's leads and records
receipts. ``kafka`` is the Kafka layer they all share (clients, the transactional session, records,
topics). ``cli`` is the ``lead-router`` command, ``app`` the composition root of ``lead-router
run``, ``demo`` the demo's rules and leads; ``localkafka`` runs a real single-node broker for tests
and the demo.
"""

__version__ = "0.1.0"
