"""The Kafka layer that the processor, the delivery workers, the CLI and the demo share.

``clients`` makes every consumer, producer and admin client from the settings (so each gets the
same servers and security); ``session`` is the one transactional session (begin, produce, send
offsets, commit, and what to do on each kind of error); ``records`` holds the record types and
dead-letter copies; ``reading`` reads a topic to its end; ``admin`` creates missing topics;
``access`` checks the credentials once before anything else talks to the brokers. Nothing here
knows of leads or rules.
"""
