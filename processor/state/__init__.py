"""The processor's key-value state, on disk and in a compacted changelog topic.

State may be larger than memory (cap counters, duplicate memory), so each decide topic partition's
state lives in a RocksDB database of its own (``store``), changed only through the Kafka
transaction that commits the offsets it belongs to (``stores``), and restored from its changelog
partition when the local copy is not current (``changelog``). ``decide`` keeps the decide stage's
ledgers over them.
"""
