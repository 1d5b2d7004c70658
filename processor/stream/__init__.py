"""The processor's stream: the transactional loop that runs the pipeline, and its own topics."""
