"""Where the visitor is, from coordinates, IP address or postcode: databases, files, downloads.

The points and distances themselves are in ``processor.geometry``.
"""
