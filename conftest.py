"""The suite's shared fixtures (tests/fixtures.py), visible to tests/ and services/*/tests/."""

pytest_plugins = ["tests.fixtures"]
