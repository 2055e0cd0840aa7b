"""Fixtures of the feed tests: `api` (the server in-process with the test catalog) as the server tests have it."""

from tests.server.conftest import api  # noqa: F401  (a fixture, used by name)
