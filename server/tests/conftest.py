"""The provider tests' fixtures live in provider_support.py (helpers imported by name
from there), the PostgreSQL server's in pg_support.py; importing them here is what makes
pytest offer them to the tests."""

from pg_support import postgres_server, postgres_url  # noqa: F401 - fixtures
from provider_support import (  # noqa: F401 - fixtures and the hook that parametrizes `database`
    app,
    client,
    clock,
    config,
    data_dir,
    database,
    flow,
    live_providers,
    pytest_generate_tests,
)

__all__ = [
    "app",
    "client",
    "clock",
    "config",
    "data_dir",
    "database",
    "flow",
    "pytest_generate_tests",
    "live_providers",
    "postgres_server",
    "postgres_url",
]
