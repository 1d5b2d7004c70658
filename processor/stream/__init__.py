"""The Kafka edges: the transactional loop, the config-topic follower, the rotation log, topics."""
