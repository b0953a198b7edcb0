"""Learning samples and their labels (server/samples.py checks them, the
labelling page and train-head read them)."""
from __future__ import annotations

import json

NOT_WASTE = "not_waste"  # the label for "not waste / not visible"

_LIST_COLUMNS = ("event_id, station_id, community_code, device_id, ts, model, rules, item, verdict, "
                 "confidence, rejection_score, uncertainty, probs, dims, received_at, label, label_role, "
                 "label_by, label_at, CASE WHEN jpeg IS NULL THEN 0 ELSE 1 END AS has_image")


def _listed(row) -> dict:
    out = dict(row)
    out["probs"] = json.loads(out["probs"])
    out["has_image"] = bool(out["has_image"])
    return out


class SampleStore:
    def put_sample(self, record: dict, label: dict | None = None) -> bool:
        """Store one sample once; True if new. `label` ({label, role,
        username, at}) labels it in the same transaction (a disposal the
        station's volunteer already corrected)."""
        columns = ("event_id", "station_id", "community_code", "device_id", "ts", "model", "rules",
                   "item", "verdict", "confidence", "rejection_score", "uncertainty", "probs",
                   "embedding", "dims", "jpeg", "received_at")
        with self.write():
            cur = self.conn.execute(
                f"INSERT INTO samples({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
                "ON CONFLICT(event_id) DO NOTHING",
                tuple(record[c] for c in columns))
            created = cur.rowcount == 1
            if created and label is not None:
                self._label(record["event_id"], **label)
            return created

    def _label(self, event_id: str, label: str, role: str, username: str, at: str) -> None:
        self.conn.execute("UPDATE samples SET label = ?, label_role = ?, label_by = ?, label_at = ? "
                          "WHERE event_id = ?", (label, role, username, at, event_id))
        self.conn.execute("INSERT INTO sample_labels(event_id, label, role, username, at) "
                          "VALUES (?, ?, ?, ?, ?)", (event_id, label, role, username, at))

    def _label_if_sampled(self, event_id: str, label: str, role: str, username: str, at: str) -> None:
        """Inside a write: label the event's sample, if there is one (a correction)."""
        if self._one("SELECT 1 FROM samples WHERE event_id = ?", (event_id,)):
            self._label(event_id, label, role, username, at)

    def label_sample(self, event_id: str, label: str, role: str, username: str, at: str) -> dict | None:
        """Give (or change) a sample's label; the sample, or None if there is none."""
        with self.write():
            if not self._one(f"SELECT 1 FROM samples WHERE event_id = ?{self._FOR_UPDATE}", (event_id,)):
                return None
            self._label(event_id, label, role, username, at)
        return self.sample(event_id)

    def sample(self, event_id: str) -> dict | None:
        row = self._one(f"SELECT {_LIST_COLUMNS} FROM samples WHERE event_id = ?", (event_id,))
        if row is None:
            return None
        out = _listed(row)
        out["history"] = [dict(r) for r in self._all(
            "SELECT label, role, username, at FROM sample_labels WHERE event_id = ? ORDER BY at, id",
            (event_id,))]
        return out

    def sample_image(self, event_id: str) -> bytes | None:
        row = self._one("SELECT jpeg FROM samples WHERE event_id = ?", (event_id,))
        return bytes(row[0]) if row and row[0] is not None else None

    def sample_queue(self, scope: str, limit: int = 50, exclude: tuple = ()) -> list[dict]:
        """Unlabelled samples with their image in `scope`, most uncertain first."""
        where, params = self._prefix_where("community_code", scope)
        skip = f" AND event_id NOT IN ({', '.join('?' * len(exclude))})" if exclude else ""
        return [_listed(r) for r in self._all(
            f"SELECT {_LIST_COLUMNS} FROM samples WHERE label IS NULL AND jpeg IS NOT NULL AND {where}{skip} "
            "ORDER BY uncertainty DESC, rejection_score DESC, event_id LIMIT ?",
            (*params, *exclude, limit))]

    def labelled_samples(self, scope: str, limit: int = 50) -> list[dict]:
        """Labelled samples in `scope`, the latest labelled first (for review)."""
        where, params = self._prefix_where("community_code", scope)
        return [_listed(r) for r in self._all(
            f"SELECT {_LIST_COLUMNS} FROM samples WHERE label IS NOT NULL AND {where} "
            "ORDER BY label_at DESC, event_id LIMIT ?", (*params, limit))]

    def sample_counts(self, scope: str) -> dict:
        where, params = self._prefix_where("community_code", scope)
        row = self._one(f"SELECT count(*) AS total, "
                        f"sum(CASE WHEN label IS NULL THEN 0 ELSE 1 END) AS labelled FROM samples WHERE {where}",
                        params)
        return {"total": row["total"], "labelled": row["labelled"] or 0}

    def training_samples(self) -> list[dict]:
        """Every labelled sample with its embedding (train-head)."""
        rows = self._all("SELECT event_id, station_id, model, label, label_role, embedding, dims, received_at "
                         "FROM samples WHERE label IS NOT NULL ORDER BY event_id")
        return [dict(r, embedding=bytes(r["embedding"])) for r in rows]

    def corrected_since(self, station_id: str, first_day: str, since: str, limit: int = 200) -> list[str]:
        """The station's disposals its volunteer corrected since `since` (UTC ISO)."""
        return [r[0] for r in self._all(
            "SELECT event_id FROM events WHERE station_id = ? AND day >= ? AND corrected_item IS NOT NULL "
            "AND feedback_at >= ? ORDER BY feedback_at LIMIT ?", (station_id, first_day, since, limit))]

    def prune_samples(self, before: str) -> tuple[int, int]:
        """Samples received before `before` (UTC ISO): the unlabelled ones are
        deleted, the labelled ones lose their image (their embedding and
        label stay for training). Returns (deleted, images dropped)."""
        with self.write():
            deleted = self.conn.execute("DELETE FROM samples WHERE received_at < ? AND label IS NULL",
                                        (before,)).rowcount
            images = self.conn.execute("UPDATE samples SET jpeg = NULL WHERE received_at < ? "
                                       "AND jpeg IS NOT NULL", (before,)).rowcount
        return deleted, images
