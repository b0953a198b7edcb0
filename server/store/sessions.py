"""People's sessions and the login throttle, kept in the store so that every
worker and every host agrees on them (docs/design.md, "Security")."""
from __future__ import annotations

from .errors import StoreError


class SessionStore:
    # --- sessions ------------------------------------------------------------

    def start_session(self, id_hash: str, username: str, now: str, expires_at: str) -> None:
        with self.write():
            # Expired sessions go as new ones come, so the table stays small.
            self.conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (now,))
            self.conn.execute("INSERT INTO sessions(id_hash, username, created_at, expires_at) "
                              "VALUES (?, ?, ?, ?)", (id_hash, username, now, expires_at))

    def session_user(self, id_hash: str, now: str) -> dict | None:
        """The user of a live session, or None if it ended, expired or never was."""
        row = self._one("SELECT users.* FROM sessions JOIN users USING (username) "
                        "WHERE sessions.id_hash = ? AND sessions.expires_at > ?", (id_hash, now))
        return dict(row) if row else None

    def end_session(self, id_hash: str) -> None:
        with self.write():
            self.conn.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))

    def end_user_sessions(self, username: str) -> int:
        with self.write():
            return self.conn.execute("DELETE FROM sessions WHERE username = ?", (username,)).rowcount

    def count_user_sessions(self, username: str) -> int:
        return self._one("SELECT count(*) FROM sessions WHERE username = ?", (username,))[0]

    def set_password(self, username: str, password_hash: str) -> None:
        """A new password ends every session of the user."""
        with self.write():
            cur = self.conn.execute("UPDATE users SET password_hash = ? WHERE username = ?",
                                    (password_hash, username))
            if cur.rowcount == 0:
                raise StoreError(f"no user {username}")
            self.conn.execute("DELETE FROM sessions WHERE username = ?", (username,))

    def remove_user(self, username: str) -> None:
        """Remove a user and end their sessions (the foreign key cascades)."""
        with self.write():
            if self.conn.execute("DELETE FROM users WHERE username = ?", (username,)).rowcount == 0:
                raise StoreError(f"no user {username}")

    # --- login throttle ------------------------------------------------------

    def login_failures(self, keys: list[str], since: float) -> list[tuple[int, float]]:
        """(failures since `since`, time of the oldest of them) for each key."""
        return [tuple(self._one("SELECT count(*), min(at) FROM login_failures "
                                "WHERE key = ? AND at > ?", (key, since)))
                for key in keys]

    def record_login_failure(self, keys: list[str], now: float, forget_before: float) -> None:
        with self.write():
            self.conn.execute("DELETE FROM login_failures WHERE at <= ?", (forget_before,))
            self.conn.executemany("INSERT INTO login_failures(key, at) VALUES (?, ?)",
                                  [(key, now) for key in keys])

    def clear_login_failures(self, key: str) -> None:
        with self.write():
            self.conn.execute("DELETE FROM login_failures WHERE key = ?", (key,))
