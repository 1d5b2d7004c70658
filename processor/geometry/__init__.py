"""Points on Earth and how far apart they are: all the rules engine needs of geography.

Pure computation, kept apart from ``processor.geo`` (which reads IP databases, postcode files and
the network to find where a visitor is), so that routing a lead imports no I/O.
"""
