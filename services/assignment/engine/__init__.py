"""The assignment engine: hard constraints, scoring and choice over an in-memory roster and
workload (services.assignment.engine.model), shared by the service and bench/assign."""
