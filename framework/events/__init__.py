"""The event bus: envelope, topic matching, in-memory and Redis Streams backends."""
