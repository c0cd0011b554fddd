"""Persistent state: one SQLite file in the data dir, behind this one module.

Codes and refresh tokens are stored only as SHA-256 hashes, so a copy of the
database does not hand out working credentials. "Consume once" is a single
conditional UPDATE whose row count says who won: atomic on any SQL database,
which keeps the SQL portable to the PostgreSQL deployment planned later.
"""

import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from .core.records import CodeRecord, Grant

SCHEMA = """
CREATE TABLE IF NOT EXISTS signing_keys (
    kid TEXT PRIMARY KEY, private_jwk TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS provider_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    session_hash TEXT PRIMARY KEY, username TEXT NOT NULL,
    auth_time INTEGER NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pending_authorizations (
    request_id TEXT PRIMARY KEY, session_hash TEXT NOT NULL,
    params TEXT NOT NULL, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS consents (
    username TEXT NOT NULL, client_id TEXT NOT NULL, scope TEXT NOT NULL,
    granted_at INTEGER NOT NULL, implicit INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (username, client_id));
CREATE TABLE IF NOT EXISTS grants (
    grant_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, username TEXT NOT NULL,
    scope TEXT NOT NULL, auth_time INTEGER NOT NULL, created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL, revoked_at INTEGER);
CREATE TABLE IF NOT EXISTS codes (
    code_hash TEXT PRIMARY KEY, grant_id TEXT NOT NULL, client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL, nonce TEXT, code_challenge TEXT,
    code_challenge_method TEXT, expires_at INTEGER NOT NULL, consumed_at INTEGER);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash TEXT PRIMARY KEY, grant_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL, used_at INTEGER, dpop_jkt TEXT);
CREATE TABLE IF NOT EXISTS access_tokens (
    jti TEXT PRIMARY KEY, grant_id TEXT NOT NULL, expires_at INTEGER NOT NULL,
    revoked_at INTEGER);
CREATE TABLE IF NOT EXISTS dpop_proofs (proof_hash TEXT PRIMARY KEY, expires_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS login_failures (
    subject TEXT NOT NULL, failed_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS login_failures_subject ON login_failures (subject, failed_at);
"""

# docs/SECURITY.md P28: the indexes purge() needs, so each of its DELETEs reads only what it removes.
PURGE_INDEXES = """
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions (expires_at);
CREATE INDEX IF NOT EXISTS sessions_username ON sessions (username, auth_time);
CREATE INDEX IF NOT EXISTS pending_authorizations_expires ON pending_authorizations (expires_at);
CREATE INDEX IF NOT EXISTS grants_expires ON grants (expires_at);
CREATE INDEX IF NOT EXISTS codes_expires ON codes (expires_at);
CREATE INDEX IF NOT EXISTS codes_grant ON codes (grant_id);
CREATE INDEX IF NOT EXISTS refresh_tokens_expires ON refresh_tokens (expires_at);
CREATE INDEX IF NOT EXISTS refresh_tokens_grant ON refresh_tokens (grant_id);
CREATE INDEX IF NOT EXISTS access_tokens_expires ON access_tokens (expires_at);
CREATE INDEX IF NOT EXISTS access_tokens_grant ON access_tokens (grant_id);
CREATE INDEX IF NOT EXISTS dpop_proofs_expires ON dpop_proofs (expires_at);
CREATE INDEX IF NOT EXISTS login_failures_failed_at ON login_failures (failed_at);
"""

# What purge() removes, table by table: (table, key column, condition on `?` = now).
# Codes go once expired, consumed or not: until then a replay must still find them and
# revoke (RFC 6749 §4.1.2). Every refresh token of a family carries the family's absolute
# expiry, so a used one stays known, and its replay revokes, for as long as the family
# could live (RFC 9700 §4.14.2). A DPoP proof is remembered until its iat leaves the accepted
# window (docs/SECURITY.md P31). A grant goes last, once expired and no longer referenced.
EXPIRED = (
    ("sessions", "session_hash", "expires_at <= ?"),
    ("dpop_proofs", "proof_hash", "expires_at <= ?"),
    ("pending_authorizations", "request_id", "expires_at <= ?"),
    ("codes", "code_hash", "expires_at <= ?"),
    ("access_tokens", "jti", "expires_at <= ?"),
    ("refresh_tokens", "token_hash", "expires_at <= ?"),
    (
        "grants",
        "grant_id",
        "expires_at <= ?"
        " AND NOT EXISTS (SELECT 1 FROM codes c WHERE c.grant_id = grants.grant_id)"
        " AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.grant_id = grants.grant_id)"
        " AND NOT EXISTS (SELECT 1 FROM access_tokens a WHERE a.grant_id = grants.grant_id)",
    ),
)
# Failures older than the throttling window no longer count (throttle.py).
LOGIN_FAILURES_EXPIRED = ("login_failures", "failed_at", "failed_at <= ?")
PURGE_BATCH = 500


def purge_sql(table: str, key: str, where: str) -> str:
    # At most about PURGE_BATCH rows per statement, so requests interleave with a long purge;
    # DELETE ... WHERE key IN (SELECT ... LIMIT n) is valid on SQLite and PostgreSQL alike.
    # (A key that is not unique, like failed_at, only makes a batch larger, never wrong.)
    return f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {where} LIMIT ?)"


SESSIONS_PER_USER = 20


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Store:
    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        # docs/SECURITY.md P28: the log synced at every commit, so not even a power loss undoes a
        # rotation or a revocation (NORMAL, some builds' WAL default, could lose the last ones).
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._db.executescript(PURGE_INDEXES)
        self._add_missing_columns()

    def _add_missing_columns(self) -> None:
        # Data dirs made before consent was kept per flow (docs/SECURITY.md P13): their implicit column
        # defaults to "not approved", so the legacy flow asks once more, with its warning.
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(consents)")}
        if "implicit" not in columns:
            self._db.execute("ALTER TABLE consents ADD COLUMN implicit INTEGER NOT NULL DEFAULT 0")
        # Data dirs made before DPoP (docs/SECURITY.md P34): their refresh tokens are bound to no key.
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(refresh_tokens)")}
        if "dpop_jkt" not in columns:
            self._db.execute("ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT")

    def close(self) -> None:
        self._db.close()

    def ready(self) -> bool:
        """Whether this store answers now: the database reads, and a signing key is there to sign with."""
        try:
            with self._lock:
                row = self._db.execute("SELECT count(*) FROM signing_keys").fetchone()
        except sqlite3.Error:
            return False
        return bool(row and row[0] > 0)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _one(self, sql: str, *args: Any) -> Any:
        with self._lock:
            return self._db.execute(sql, args).fetchone()

    def _run(self, sql: str, *args: Any) -> int:
        with self._lock:
            return self._db.execute(sql, args).rowcount

    # --- the provider's own secrets ----------------------------------------------

    def provider_secret(self, name: str, candidate: str) -> str:
        """The secret stored under `name`; `candidate` becomes it if there is none yet. Every process
        and instance on this database, and every restart, gets the same one (the first writer wins)."""
        with self._transaction() as db:
            db.execute("INSERT INTO provider_secrets VALUES (?, ?) ON CONFLICT (name) DO NOTHING", (name, candidate))
            row = db.execute("SELECT value FROM provider_secrets WHERE name = ?", (name,)).fetchone()
        return str(row[0])

    # --- signing keys ---------------------------------------------------------

    def signing_keys(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT private_jwk FROM signing_keys ORDER BY created_at").fetchall()
        return [row[0] for row in rows]

    def add_signing_key(self, kid: str, private_jwk: str, now: int) -> None:
        self._run("INSERT INTO signing_keys VALUES (?, ?, ?)", kid, private_jwk, now)

    # --- browser sessions at the provider ---------------------------------------

    def create_session(self, session_id: str, username: str, auth_time: int, expires_at: int) -> None:
        """docs/SECURITY.md P28: an account keeps its newest SESSIONS_PER_USER sessions; signing in again and
        again (from many browsers) cannot grow the table without bound before the purge."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?)", (digest(session_id), username, auth_time, expires_at)
            )
            db.execute(
                "DELETE FROM sessions WHERE username = ? AND session_hash NOT IN (SELECT session_hash FROM sessions"
                " WHERE username = ? ORDER BY auth_time DESC, rowid DESC LIMIT ?)",
                (username, username, SESSIONS_PER_USER),
            )

    def get_session(self, session_id: str, now: int) -> tuple[str, int] | None:
        row = self._one(
            "SELECT username, auth_time FROM sessions WHERE session_hash = ? AND expires_at > ?",
            digest(session_id),
            now,
        )
        return (row[0], row[1]) if row else None

    def delete_session(self, session_id: str) -> None:
        self._run("DELETE FROM sessions WHERE session_hash = ?", digest(session_id))

    # --- authorization requests waiting for consent ----------------------------

    def save_pending(self, request_id: str, session_id: str, params: dict[str, str], expires_at: int) -> None:
        self._run(
            "INSERT INTO pending_authorizations VALUES (?, ?, ?, ?)",
            digest(request_id),
            digest(session_id),
            json.dumps(params),
            expires_at,
        )

    def take_pending(self, request_id: str, session_id: str, now: int) -> dict[str, str] | None:
        """Consume a pending request once, only from the session that made it."""
        key = (digest(request_id), digest(session_id))
        with self._transaction() as db:
            row = db.execute(
                "SELECT params FROM pending_authorizations"
                " WHERE request_id = ? AND session_hash = ? AND expires_at > ?",
                (*key, now),
            ).fetchone()
            db.execute("DELETE FROM pending_authorizations WHERE request_id = ? AND session_hash = ?", key)
        return json.loads(row[0]) if row else None

    # --- consent ----------------------------------------------------------------

    def consent(self, username: str, client_id: str) -> tuple[set[str], bool]:
        """The scopes the user approved for this client, and whether they approved its implicit flow."""
        sql = "SELECT scope, implicit FROM consents WHERE username = ? AND client_id = ?"
        row = self._one(sql, username, client_id)
        return (set(row[0].split()), bool(row[1])) if row else (set(), False)

    def save_consent(self, username: str, client_id: str, scopes: set[str], implicit: bool, now: int) -> None:
        row = (username, client_id, " ".join(sorted(scopes)), now, int(implicit))
        with self._transaction() as db:
            db.execute("DELETE FROM consents WHERE username = ? AND client_id = ?", (username, client_id))
            db.execute(
                "INSERT INTO consents (username, client_id, scope, granted_at, implicit) VALUES (?, ?, ?, ?, ?)", row
            )

    # --- grants and the tokens they issue ----------------------------------------

    def create_grant(self, grant: Grant) -> None:
        self._run(
            "INSERT INTO grants VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            grant.grant_id,
            grant.client_id,
            grant.username,
            grant.scope,
            grant.auth_time,
            grant.created_at,
            grant.expires_at,
            grant.revoked_at,
        )

    def get_grant(self, grant_id: str) -> Grant | None:
        row = self._one("SELECT * FROM grants WHERE grant_id = ?", grant_id)
        return Grant(*row) if row else None

    def revoke_grant(self, grant_id: str, now: int) -> None:
        self._run("UPDATE grants SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL", now, grant_id)

    def save_code(self, code: str, record: CodeRecord) -> None:
        self._run(
            "INSERT INTO codes VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            digest(code),
            record.grant_id,
            record.client_id,
            record.redirect_uri,
            record.nonce,
            record.code_challenge,
            record.code_challenge_method,
            record.expires_at,
        )

    def find_code(self, code: str) -> tuple[CodeRecord | None, bool]:
        """Returns (record, consumed)."""
        row = self._one(
            "SELECT grant_id, client_id, redirect_uri, nonce, code_challenge, code_challenge_method, expires_at,"
            " consumed_at FROM codes WHERE code_hash = ?",
            digest(code),
        )
        return (CodeRecord(*row[:7]), row[7] is not None) if row else (None, False)

    def consume_code(self, code: str, now: int) -> bool:
        """Marks a code used; exactly one concurrent caller gets True."""
        sql = "UPDATE codes SET consumed_at = ? WHERE code_hash = ? AND consumed_at IS NULL"
        return self._run(sql, now, digest(code)) == 1

    def save_refresh_token(self, token: str, grant_id: str, expires_at: int, dpop_jkt: str | None = None) -> None:
        sql = "INSERT INTO refresh_tokens (token_hash, grant_id, expires_at, dpop_jkt) VALUES (?, ?, ?, ?)"
        self._run(sql, digest(token), grant_id, expires_at, dpop_jkt)

    def find_refresh_token(self, token: str) -> tuple[str | None, bool, int, str | None]:
        """Returns (grant_id, used, expires_at, the DPoP key thumbprint it is bound to or None)."""
        sql = "SELECT grant_id, used_at, expires_at, dpop_jkt FROM refresh_tokens WHERE token_hash = ?"
        row = self._one(sql, digest(token))
        return (row[0], row[1] is not None, row[2], row[3]) if row else (None, False, 0, None)

    def use_refresh_token(self, token: str, now: int) -> bool:
        """Marks a refresh token used; exactly one concurrent caller gets True."""
        sql = "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL"
        return self._run(sql, now, digest(token)) == 1

    def save_access_token(self, jti: str, grant_id: str, expires_at: int) -> None:
        self._run("INSERT INTO access_tokens VALUES (?, ?, ?, NULL)", jti, grant_id, expires_at)

    def access_token_active(self, jti: str, now: int) -> bool:
        row = self._one(
            "SELECT 1 FROM access_tokens a JOIN grants g ON g.grant_id = a.grant_id"
            " WHERE a.jti = ? AND a.expires_at > ? AND a.revoked_at IS NULL AND g.revoked_at IS NULL",
            jti,
            now,
        )
        return row is not None

    def access_token_grant(self, jti: str) -> str | None:
        row = self._one("SELECT grant_id FROM access_tokens WHERE jti = ?", jti)
        return row[0] if row else None

    def revoke_access_token(self, jti: str, now: int) -> None:
        self._run("UPDATE access_tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL", now, jti)

    # --- DPoP proofs seen (docs/SECURITY.md P31) ------------------------------------------

    def use_dpop_proof(self, replay_key: str, expires_at: int, now: int) -> bool:
        """Records a proof until `expires_at`; exactly one concurrent caller gets True. One statement, so
        atomic on any SQL database; a row whose time has passed (not yet purged) counts as unseen."""
        sql = (
            "INSERT INTO dpop_proofs VALUES (?, ?) ON CONFLICT (proof_hash)"
            " DO UPDATE SET expires_at = excluded.expires_at WHERE dpop_proofs.expires_at <= ?"
        )
        return self._run(sql, digest(replay_key), expires_at, now) == 1

    # --- bounded storage (docs/SECURITY.md P28) -----------------------------------------

    def purge(self, now: int, login_failures_before: int) -> int:
        """Deletes what can no longer be used; returns the number of rows removed."""
        removed = sum(self._purge_table(purge_sql(*rule), now) for rule in EXPIRED)
        removed += self._purge_table(purge_sql(*LOGIN_FAILURES_EXPIRED), login_failures_before)
        return removed

    def _purge_table(self, sql: str, bound: int) -> int:
        removed = 0
        while (count := self._run(sql, bound, PURGE_BATCH)) > 0:
            removed += count
            if count < PURGE_BATCH:
                break
        return removed

    # --- failed sign-ins --------------------------------------------------------

    def reserve_login_attempt(self, subjects: dict[str, int], now: int, since: int, decide: "Decide") -> "LoginAttempt":
        """docs/SECURITY.md P23: decides and records the attempt in one write transaction, before the
        password is checked, so concurrent attempts cannot all pass one decision. `subjects` maps
        each subject to the rows worth keeping for it; rows at or before `since` are purged."""
        with self._transaction() as db:
            db.execute("DELETE FROM login_failures WHERE failed_at <= ?", (since,))
            history = {s: [row[0] for row in db.execute(_FAILURES, (s,))] for s in subjects}
            wait = decide(history)
            if wait is not None:
                return LoginAttempt(wait, ())
            rows = tuple(_insert_failure(db, s, now, keep) for s, keep in subjects.items())
        return LoginAttempt(None, rows)

    def forgive_login_attempt(self, rows: tuple[int, ...], subjects: list[str]) -> None:
        """Undoes a reservation (no password was checked, or it was right) and clears `subjects`."""
        with self._transaction() as db:
            db.executemany("DELETE FROM login_failures WHERE rowid = ?", [(r,) for r in rows])
            db.executemany("DELETE FROM login_failures WHERE subject = ?", [(s,) for s in subjects])

    def login_failure_rows(self, subject: str | None = None) -> int:
        if subject is None:
            return int(self._one("SELECT COUNT(*) FROM login_failures")[0])
        return int(self._one("SELECT COUNT(*) FROM login_failures WHERE subject = ?", subject)[0])


Decide = Callable[[dict[str, list[int]]], "int | None"]
_FAILURES = "SELECT failed_at FROM login_failures WHERE subject = ? ORDER BY failed_at"


@dataclass(frozen=True)
class LoginAttempt:
    """A throttle decision: a wait in seconds, or the rows that record the admitted attempt."""

    retry_after: int | None
    rows: tuple[int, ...]


def _insert_failure(db: sqlite3.Connection, subject: str, now: int, keep: int) -> int:
    # docs/SECURITY.md P23: rows per subject are capped; older ones cannot change a decision.
    row = db.execute("INSERT INTO login_failures VALUES (?, ?)", (subject, now)).lastrowid
    db.execute(
        "DELETE FROM login_failures WHERE subject = ? AND rowid NOT IN "
        "(SELECT rowid FROM login_failures WHERE subject = ? ORDER BY failed_at DESC, rowid DESC LIMIT ?)",
        (subject, subject, keep),
    )
    assert row is not None
    return row
