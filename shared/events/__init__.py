"""Events: the transactional outbox every resource change writes, and its relay."""
