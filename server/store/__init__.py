"""All storage goes through this package. The API and the rate logic call
Store methods only, never SQL, so that a PostgreSQL store for the whole city
can implement the same methods without touching them."""
from .sqlite import SqliteStore as Store
from .sqlite import StoreError, connect, migrate

__all__ = ["Store", "StoreError", "connect", "migrate"]
