"""Reading the rules document a command is given: a file, or ``-`` for stdin."""

from __future__ import annotations

import sys
from pathlib import Path

from processor.errors import InvalidInput
from processor.rules import RulesDocument, RulesLimits, load_rules
from processor.rules.load import decode, parse_text
from processor.rules.validate import validate_document


def read_document(file: str, limits: RulesLimits) -> RulesDocument:
    """The valid document in ``file`` (``-`` reads stdin); raises :class:`RulesInvalid`, also
    when the document exceeds ``limits``."""
    if file == "-":
        try:
            text = decode(sys.stdin.buffer.read(limits.max_bytes + 1), limits)
        except UnicodeDecodeError:
            raise InvalidInput("cannot read the rules from stdin: not UTF-8 text") from None
        return validate_document(parse_text(text, limits), limits)
    return load_rules(Path(file), limits)
