"""`lead-router demo`: sample rules and leads, and the run that routes them end to end."""
