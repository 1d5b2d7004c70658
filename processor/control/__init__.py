"""The control plane: the rules document on the compacted config topic, and its history.

``records`` reads one config record as hostile input; ``state`` judges the topic as read so far
(the version in force, what was refused); ``history`` finds a version whole again; ``follower``
keeps a processor's or a delivery worker's rules snapshot in force; ``publisher`` is what
``rules apply`` writes; ``status`` what ``rules status`` shows; ``topics`` creates the topics.
Nothing here knows of leads or of the stream that routes them.
"""
