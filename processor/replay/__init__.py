"""Replay: what a rules file would have decided for leads the processor already routed.

:class:`Replayer` routes input records one after another as the processor does, without the trace
that only a changed decision needs, so that a span of real leads can be tried before every rules
change; :meth:`Replayer.explain` gives the trace of the last lead when it is wanted.
"""

from processor.replay.engine import Delivered, Replayer, Routed

__all__ = ["Delivered", "Replayer", "Routed"]
