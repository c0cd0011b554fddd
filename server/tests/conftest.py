"""The provider tests' fixtures live in provider_support.py (helpers imported by name
from there), the PostgreSQL server's in pg_support.py; importing them here is what makes
pytest offer them to the tests."""

from pg_support import postgres_server, postgres_url  # noqa: F401 - fixtures
from provider_support import app, client, clock, config, data_dir, flow, live_providers  # noqa: F401 - fixtures

__all__ = ["app", "client", "clock", "config", "data_dir", "flow", "live_providers", "postgres_server", "postgres_url"]
