"""The console's index: audit decisions, delivery receipts and dead letters in a database.

Kafka topics answer "what happened, in order"; people ask "what happened to this lead, this
partner, this day". The index keeps the topics' records in tables with the indexes those questions
need, filled exactly once by :class:`~processor.console.index.indexer.Indexer` and read through
:mod:`processor.console.index.search`.
"""
