"""End-to-end tests: the platform as real processes on loopback, on PostgreSQL."""
