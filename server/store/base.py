"""What both stores share besides the SQL of the mixins: the row helpers and
the few dialect hooks where SQLite and PostgreSQL must say a thing
differently (each store class sets them; the SQLite values are the defaults)."""
from __future__ import annotations

from collections.abc import Iterable

from ..scopes import CITY
from . import migrations


class StoreBase:
    # The dashboard's latest wrong disposals: SQLite's planner is told which
    # index to use; PostgreSQL's picks the partial index itself.
    _WRONG_INDEX = "INDEXED BY events_wrong"
    # A read that the same transaction then updates from (feedback, heartbeat):
    # SQLite's write transaction already excludes every other writer.
    _FOR_UPDATE = ""
    # Refills the per-period roll-ups from the daily ones (date functions differ).
    _PERIOD_BACKFILL = migrations.PERIOD_BACKFILL

    def _one(self, sql: str, params: Iterable = ()):
        return self.conn.execute(sql, tuple(params)).fetchone()

    def _all(self, sql: str, params: Iterable = ()) -> list:
        return self.conn.execute(sql, tuple(params)).fetchall()

    def ping(self) -> bool:
        return self._one("SELECT 1")[0] == 1

    def _maintenance_write(self):
        """The transaction of an operator's bulk change (see PgStore)."""
        return self.write()

    @staticmethod
    def _prefix_where(column: str, scope: str) -> tuple[str, tuple]:
        if scope == CITY:
            return "1 = 1", ()
        # A range on the indexed column instead of LIKE, which SQLite will not
        # use an index for with the default case-insensitive LIKE.
        return f"{column} >= ? AND {column} < ?", (scope, scope + ":")
