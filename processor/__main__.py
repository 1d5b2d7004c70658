"""``python -m processor`` runs the ``lead-router`` command."""

import sys

from processor.cli import main

sys.exit(main())
