"""The store's one exception."""


class StoreError(Exception):
    """A write the store refused: unknown key, duplicate id, and the like."""


class StoreUnavailable(StoreError):
    """The database cannot be reached (wrong URL, server down)."""
