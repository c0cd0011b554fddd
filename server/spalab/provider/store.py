"""Persistent state, behind this one module: a SQLite file in the data dir (the default), or a
PostgreSQL server shared by several processes and instances (database.py holds the connections).

Codes and refresh tokens are stored only as SHA-256 hashes, so a copy of the database does not
hand out working credentials. "Consume once" is a single conditional UPDATE whose row count says
who won: atomic on both databases. What a request writes goes in one transaction (a code's
redemption, say: the code consumed, the access token and the refresh token recorded, or the grant
revoked if another redemption won), so a crash never leaves half of it.

The schema is versioned: `schema_version` holds the number of MIGRATIONS applied, and every start
applies the missing ones, forward only, under the database's exclusive lock (two instances starting
at once apply each once). A database made by a newer spalab is refused, not guessed at.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, overload

from .core.records import CodeRecord, Grant
from .database import Connection, DatabaseError, open_database

T = TypeVar("T")

# The first schema, as the unversioned releases made it. `{rowid}` is an explicit row number where the
# database has no implicit one (PostgreSQL); times are seconds since the epoch (BIGINT: past 2038).
SCHEMA_1 = """
CREATE TABLE IF NOT EXISTS signing_keys (
    kid TEXT PRIMARY KEY, private_jwk TEXT NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS provider_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions ({rowid}
    session_hash TEXT PRIMARY KEY, username TEXT NOT NULL,
    auth_time BIGINT NOT NULL, expires_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS pending_authorizations (
    request_id TEXT PRIMARY KEY, session_hash TEXT NOT NULL,
    params TEXT NOT NULL, expires_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS consents (
    username TEXT NOT NULL, client_id TEXT NOT NULL, scope TEXT NOT NULL,
    granted_at BIGINT NOT NULL, implicit INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (username, client_id));
CREATE TABLE IF NOT EXISTS grants (
    grant_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, username TEXT NOT NULL,
    scope TEXT NOT NULL, auth_time BIGINT NOT NULL, created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL, revoked_at BIGINT);
CREATE TABLE IF NOT EXISTS codes (
    code_hash TEXT PRIMARY KEY, grant_id TEXT NOT NULL, client_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL, nonce TEXT, code_challenge TEXT,
    code_challenge_method TEXT, expires_at BIGINT NOT NULL, consumed_at BIGINT);
CREATE TABLE IF NOT EXISTS refresh_tokens (
    token_hash TEXT PRIMARY KEY, grant_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL, used_at BIGINT, dpop_jkt TEXT);
CREATE TABLE IF NOT EXISTS access_tokens (
    jti TEXT PRIMARY KEY, grant_id TEXT NOT NULL, expires_at BIGINT NOT NULL,
    revoked_at BIGINT);
CREATE TABLE IF NOT EXISTS dpop_proofs (proof_hash TEXT PRIMARY KEY, expires_at BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS login_failures ({rowid}
    subject TEXT NOT NULL, failed_at BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS login_failures_subject ON login_failures (subject, failed_at);
"""
ROWID = {"sqlite": "", "postgresql": "rowid BIGINT GENERATED ALWAYS AS IDENTITY,"}

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


def _statements(script: str) -> list[str]:
    return [statement.strip() for statement in script.split(";") if statement.strip()]


def _migration_1(db: Connection) -> None:
    """The schema of the unversioned releases; a SQLite file they made is adopted as it is."""
    for statement in _statements(SCHEMA_1.replace("{rowid}", ROWID[db.dialect]) + PURGE_INDEXES):
        db.execute(statement)
    if db.dialect == "sqlite":
        # Data dirs made before consent was kept per flow (docs/SECURITY.md P13): their implicit column
        # defaults to "not approved", so the legacy flow asks once more, with its warning.
        if "implicit" not in _sqlite_columns(db, "consents"):
            db.execute("ALTER TABLE consents ADD COLUMN implicit INTEGER NOT NULL DEFAULT 0")
        # Data dirs made before DPoP (docs/SECURITY.md P34): their refresh tokens are bound to no key.
        if "dpop_jkt" not in _sqlite_columns(db, "refresh_tokens"):
            db.execute("ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT")


def _sqlite_columns(db: Connection, table: str) -> set[str]:
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})").fetchall()}


def _migration_2(db: Connection) -> None:
    """Key rotation (keys.py): a key is published when it is added and signs from `signs_from`."""
    db.execute("ALTER TABLE signing_keys ADD COLUMN signs_from BIGINT")
    db.execute("UPDATE signing_keys SET signs_from = created_at")


def _migration_3(db: Connection) -> None:
    """ES256 access tokens (keys.py): signing keys of two kinds, which an older spalab cannot read, so it must
    refuse this database (SchemaTooNew) rather than fail at its next key reload. And the sign-in throttle's
    subjects are stored as digests (a subject holds whatever was typed as a user name, up to 4 KB): the
    failures recorded under the old form would never match again, so they go (they count for 15 minutes)."""
    db.execute("DELETE FROM login_failures")


def _migration_4(db: Connection) -> None:
    """Codes bound to a DPoP key (RFC 9449 §10, dpop_jkt; docs/SECURITY.md P38). The codes already issued
    are bound to none."""
    db.execute("ALTER TABLE codes ADD COLUMN dpop_jkt TEXT")


# Forward only: a release appends; an applied migration never changes.
MIGRATIONS: tuple[Callable[[Connection], None], ...] = (_migration_1, _migration_2, _migration_3, _migration_4)


class SchemaTooNew(DatabaseError):
    pass


def migrate(db: Connection) -> int:
    """Applies the missing migrations (the caller holds the exclusive lock); returns the version."""
    migrations = MIGRATIONS
    db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = db.execute("SELECT max(version) FROM schema_version").fetchone()
    version = int(row[0]) if row and row[0] is not None else 0
    if version > len(migrations):
        raise SchemaTooNew(
            f"this database has schema version {version}, made by a newer spalab; this one knows up to "
            f"{len(migrations)}: upgrade spalab, or point it at another database"
        )
    for number in range(version + 1, len(migrations) + 1):
        migrations[number - 1](db)
        db.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
    return len(migrations)


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
# The SQLite database's file name in the data dir, when no PostgreSQL URL is given.
SQLITE_FILE = "spalab.sqlite3"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class Store:
    """Every method blocks and is safe from any thread; the provider never calls them on its event loop:
    it awaits `call` (a unit that writes) or `call_read` (one that only reads) with a function that makes
    them, which runs where the database is cheapest to reach (database.py).

    Durability (docs/SECURITY.md P28): every write is on disk before it is answered, except the few whose
    loss in a power cut only repeats a step: a new session, a code not yet redeemed and its grant, a
    pending consent request, a remembered consent, the purge, and the sign-in throttle's counters (a power
    cut would give back the attempts of its last second). Those are committed at once, so every process
    and instance sees them, and reach the disk with the next durable write or within
    database.SYNC_DELAY. Redemptions, rotations, revocations, sign-outs, spent DPoP proofs, keys and
    secrets are always durable before the answer."""

    def __init__(self, location: str | Path) -> None:
        self._db = open_database(location)
        try:
            self.schema_version = self._db.exclusive(migrate)
        except BaseException:
            self._db.close()
            raise

    @property
    def dialect(self) -> str:
        return self._db.dialect

    def close(self) -> None:
        self._db.close()

    @overload
    async def call(self, fn: Callable[..., T], *args: Any) -> T: ...

    @overload
    async def call(self, fn: Callable[..., Any], *args: Any, after: Callable[[Any], T]) -> T: ...

    async def call(self, fn: Callable[..., Any], *args: Any, after: Callable[[Any], Any] | None = None) -> Any:
        return await self._db.call(partial(fn, *args) if args else fn, after)

    async def call_read(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._db.call_read(partial(fn, *args) if args else fn)

    def ready(self) -> bool:
        """Whether this store answers now: the database reads, and a signing key is there to sign with."""
        try:
            row = self._one("SELECT count(*) FROM signing_keys")
        except Exception:  # noqa: BLE001 - any database failure means "not ready", said by the 503
            return False
        return bool(row and row[0] > 0)

    def _one(self, sql: str, *args: Any) -> Any:
        return self._db.read(lambda db: db.execute(sql, args).fetchone())

    def _run(self, sql: str, *args: Any, durable: bool = True) -> int:
        return self._db.write(lambda db: db.execute(sql, args).rowcount, durable)

    # --- the provider's own secrets ----------------------------------------------

    def provider_secret(self, name: str, candidate: str) -> str:
        """The secret stored under `name`; `candidate` becomes it if there is none yet. Every process
        and instance on this database, and every restart, gets the same one (the first writer wins)."""

        def unit(db: Connection) -> str:
            db.execute("INSERT INTO provider_secrets VALUES (?, ?) ON CONFLICT (name) DO NOTHING", (name, candidate))
            return str(db.execute("SELECT value FROM provider_secrets WHERE name = ?", (name,)).fetchone()[0])

        return self._db.write(unit)

    # --- signing keys ---------------------------------------------------------

    def signing_keys(self) -> list[str]:
        return self._db.read(_signing_keys)

    def add_signing_key(self, kid: str, private_jwk: str, now: int, signs_from: int | None = None) -> None:
        """Publishes a key now; it signs from `signs_from` (default: now)."""
        sql = "INSERT INTO signing_keys (kid, private_jwk, created_at, signs_from) VALUES (?, ?, ?, ?)"
        self._run(sql, kid, private_jwk, now, now if signs_from is None else signs_from)

    def signing_key_schedule(self) -> list[tuple[str, int]]:
        """Every published key (its private JWK) with the time it signs from, in that order."""
        return self._db.read(_signing_key_schedule)

    def retire_signing_keys(self, retired: Callable[[list[tuple[str, int]]], list[str]]) -> int:
        """Deletes the keys `retired(schedule)` names (keys.retired_keys), in one transaction with reading
        the schedule; returns how many. Every instance stops publishing them at its next reload."""

        def unit(db: Connection) -> int:
            kids = retired(_signing_key_schedule(db))
            for kid in kids:
                db.execute("DELETE FROM signing_keys WHERE kid = ?", (kid,))
            return len(kids)

        return self._db.write(unit)

    def complete_signing_keys(self, missing: Callable[[list[str]], list[tuple[str, str, int]]], now: int) -> None:
        """Adds `missing(stored private JWKs)`'s keys (kid, private JWK, signs from). Under the exclusive lock,
        so instances starting at once on one database end with one key of each kind, not one each."""

        def unit(db: Connection) -> None:
            sql = "INSERT INTO signing_keys (kid, private_jwk, created_at, signs_from) VALUES (?, ?, ?, ?)"
            for kid, private_jwk, signs_from in missing(_signing_keys(db)):
                db.execute(sql, (kid, private_jwk, now, signs_from))

        self._db.exclusive(unit)

    # --- browser sessions at the provider ---------------------------------------

    def create_session(self, session_id: str, username: str, auth_time: int, expires_at: int) -> None:
        """docs/SECURITY.md P28: an account keeps its newest SESSIONS_PER_USER sessions; signing in again and
        again (from many browsers) cannot grow the table without bound before the purge."""

        def unit(db: Connection) -> None:
            db.execute(
                "INSERT INTO sessions (session_hash, username, auth_time, expires_at) VALUES (?, ?, ?, ?)",
                (digest(session_id), username, auth_time, expires_at),
            )
            db.execute(
                "DELETE FROM sessions WHERE username = ? AND session_hash NOT IN (SELECT session_hash FROM sessions"
                " WHERE username = ? ORDER BY auth_time DESC, rowid DESC LIMIT ?)",
                (username, username, SESSIONS_PER_USER),
            )

        self._db.write(unit, durable=False)

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
            durable=False,
        )

    def take_pending(self, request_id: str, session_id: str, now: int) -> dict[str, str] | None:
        """Consume a pending request once, only from the session that made it: one DELETE ... RETURNING, so
        of two concurrent takers (even on two instances) only one gets the row."""
        row = self._db.write(
            lambda db: db.execute(
                "DELETE FROM pending_authorizations WHERE request_id = ? AND session_hash = ?"
                " RETURNING params, expires_at",
                (digest(request_id), digest(session_id)),
            ).fetchone()
        )
        return json.loads(row[0]) if row and row[1] > now else None

    # --- consent ----------------------------------------------------------------

    def consent(self, username: str, client_id: str) -> tuple[set[str], bool]:
        """The scopes the user approved for this client, and whether they approved its implicit flow."""
        sql = "SELECT scope, implicit FROM consents WHERE username = ? AND client_id = ?"
        row = self._one(sql, username, client_id)
        return (set(row[0].split()), bool(row[1])) if row else (set(), False)

    def save_consent(self, username: str, client_id: str, scopes: set[str], implicit: bool, now: int) -> None:
        self._run(
            "INSERT INTO consents (username, client_id, scope, granted_at, implicit) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (username, client_id) DO UPDATE SET scope = excluded.scope,"
            " granted_at = excluded.granted_at, implicit = excluded.implicit",
            username,
            client_id,
            " ".join(sorted(scopes)),
            now,
            int(implicit),
            durable=False,
        )

    # --- grants and the tokens they issue ----------------------------------------

    def create_grant(self, grant: Grant) -> None:
        self._db.write(lambda db: _insert_grant(db, grant))

    def issue_code(self, grant: Grant, code: str, record: CodeRecord) -> None:
        """The authorization endpoint's one write for a code: its grant and the code, together."""

        def unit(db: Connection) -> None:
            _insert_grant(db, grant)
            _insert_code(db, code, record)

        self._db.write(unit, durable=False)

    def issue_implicit(self, grant: Grant, access: "AccessRecord") -> None:
        def unit(db: Connection) -> None:
            _insert_grant(db, grant)
            _insert_access(db, access)

        self._db.write(unit)

    def get_grant(self, grant_id: str) -> Grant | None:
        row = self._one("SELECT * FROM grants WHERE grant_id = ?", grant_id)
        return Grant(*row) if row else None

    def revoke_grant(self, grant_id: str, now: int) -> None:
        self._db.write(lambda db: _revoke_grant(db, grant_id, now))

    def save_code(self, code: str, record: CodeRecord) -> None:
        self._db.write(lambda db: _insert_code(db, code, record), durable=False)

    def find_code(self, code: str) -> tuple[CodeRecord | None, bool]:
        """Returns (record, consumed)."""
        row = self._one(
            "SELECT grant_id, client_id, redirect_uri, nonce, code_challenge, code_challenge_method, expires_at,"
            " dpop_jkt, consumed_at FROM codes WHERE code_hash = ?",
            digest(code),
        )
        return (CodeRecord(*row[:8]), row[8] is not None) if row else (None, False)

    def consume_code(self, code: str, now: int) -> bool:
        """Marks a code used; exactly one concurrent caller gets True."""
        return self._db.write(lambda db: _consume_code(db, code, now))

    def redeem_code(self, code: str, grant_id: str, now: int, tokens: "IssuedTokens") -> bool:
        """RFC 6749 §4.1.2 in one transaction: the code consumed and `tokens` recorded, for exactly one of
        any number of concurrent callers (True); every other caller revokes the grant, and so the winner's
        tokens (docs/SECURITY.md P9), and gets False."""

        def unit(db: Connection) -> bool:
            if not _consume_code(db, code, now):
                _revoke_grant(db, grant_id, now)
                return False
            tokens.insert(db)
            return True

        return self._db.write(unit)

    def save_refresh_token(self, token: str, grant_id: str, expires_at: int, dpop_jkt: str | None = None) -> None:
        self._db.write(lambda db: _insert_refresh(db, RefreshRecord(token, grant_id, expires_at, dpop_jkt)))

    def find_refresh_token(self, token: str) -> tuple[str | None, bool, int, str | None]:
        """Returns (grant_id, used, expires_at, the DPoP key thumbprint it is bound to or None)."""
        sql = "SELECT grant_id, used_at, expires_at, dpop_jkt FROM refresh_tokens WHERE token_hash = ?"
        row = self._one(sql, digest(token))
        return (row[0], row[1] is not None, row[2], row[3]) if row else (None, False, 0, None)

    def use_refresh_token(self, token: str, now: int) -> bool:
        """Marks a refresh token used; exactly one concurrent caller gets True."""
        return self._db.write(lambda db: _use_refresh(db, token, now))

    def rotate_refresh_token(self, token: str, grant_id: str, now: int, tokens: "IssuedTokens") -> bool:
        """RFC 9700 §4.14.2 in one transaction: `token` used and its successors recorded, for exactly one
        concurrent caller (True); every other caller revokes the family (docs/SECURITY.md P12), False."""

        def unit(db: Connection) -> bool:
            if not _use_refresh(db, token, now):
                _revoke_grant(db, grant_id, now)
                return False
            tokens.insert(db)
            return True

        return self._db.write(unit)

    def save_access_token(self, jti: str, grant_id: str, expires_at: int) -> None:
        self._db.write(lambda db: _insert_access(db, AccessRecord(jti, grant_id, expires_at)))

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
        while (count := self._run(sql, bound, PURGE_BATCH, durable=False)) > 0:
            removed += count
            if count < PURGE_BATCH:
                break
        return removed

    # --- failed sign-ins --------------------------------------------------------

    def reserve_login_attempt(self, subjects: dict[str, int], now: int, since: int, decide: "Decide") -> "LoginAttempt":
        """docs/SECURITY.md P23: decides and records the attempt under the exclusive lock of its subjects,
        before the password is checked, so concurrent attempts on a subject (on any instance) cannot all pass
        one decision, while attempts on other accounts from other addresses do not wait. `subjects` maps each
        subject to the rows worth keeping for it; its rows at or before `since` are purged (the purge removes
        the others')."""

        stored = {subject: digest(subject) for subject in subjects}  # as login_failures holds it

        def unit(db: Connection) -> LoginAttempt:
            for key in stored.values():
                db.execute("DELETE FROM login_failures WHERE subject = ? AND failed_at <= ?", (key, since))
            history = {s: [row[0] for row in db.execute(_FAILURES, (key,)).fetchall()] for s, key in stored.items()}
            wait = decide(history)
            if wait is not None:
                return LoginAttempt(wait, ())
            return LoginAttempt(None, tuple(_insert_failure(db, stored[s], now, keep) for s, keep in subjects.items()))

        return self._db.exclusive(unit, durable=False, keys=tuple(subjects))

    def forgive_login_attempt(self, rows: tuple[int, ...], subjects: list[str]) -> None:
        """Undoes a reservation (no password was checked, or it was right) and clears `subjects`."""

        def unit(db: Connection) -> None:
            for row in rows:
                db.execute("DELETE FROM login_failures WHERE rowid = ?", (row,))
            for subject in subjects:
                db.execute("DELETE FROM login_failures WHERE subject = ?", (digest(subject),))

        self._db.write(unit, durable=False)

    def login_failure_rows(self, subject: str | None = None) -> int:
        if subject is None:
            return int(self._one("SELECT COUNT(*) FROM login_failures")[0])
        return int(self._one("SELECT COUNT(*) FROM login_failures WHERE subject = ?", digest(subject))[0])


@dataclass(frozen=True)
class AccessRecord:
    jti: str
    grant_id: str
    expires_at: int


@dataclass(frozen=True)
class RefreshRecord:
    token: str
    grant_id: str
    expires_at: int
    dpop_jkt: str | None


@dataclass(frozen=True)
class IssuedTokens:
    """What a token response records: its access token, and its refresh token if it has one."""

    access: AccessRecord
    refresh: RefreshRecord | None

    def insert(self, db: Connection) -> None:
        _insert_access(db, self.access)
        if self.refresh is not None:
            _insert_refresh(db, self.refresh)


def _signing_key_schedule(db: Connection) -> list[tuple[str, int]]:
    sql = "SELECT private_jwk, signs_from FROM signing_keys ORDER BY signs_from, created_at, kid"
    return [(row[0], int(row[1])) for row in db.execute(sql).fetchall()]


def _signing_keys(db: Connection) -> list[str]:
    return [row[0] for row in db.execute("SELECT private_jwk FROM signing_keys ORDER BY created_at").fetchall()]


def _insert_grant(db: Connection, grant: Grant) -> None:
    db.execute(
        "INSERT INTO grants VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            grant.grant_id,
            grant.client_id,
            grant.username,
            grant.scope,
            grant.auth_time,
            grant.created_at,
            grant.expires_at,
            grant.revoked_at,
        ),
    )


def _revoke_grant(db: Connection, grant_id: str, now: int) -> None:
    db.execute("UPDATE grants SET revoked_at = ? WHERE grant_id = ? AND revoked_at IS NULL", (now, grant_id))


def _insert_code(db: Connection, code: str, record: CodeRecord) -> None:
    db.execute(
        "INSERT INTO codes (code_hash, grant_id, client_id, redirect_uri, nonce, code_challenge,"
        " code_challenge_method, expires_at, dpop_jkt) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            digest(code),
            record.grant_id,
            record.client_id,
            record.redirect_uri,
            record.nonce,
            record.code_challenge,
            record.code_challenge_method,
            record.expires_at,
            record.dpop_jkt,
        ),
    )


def _consume_code(db: Connection, code: str, now: int) -> bool:
    sql = "UPDATE codes SET consumed_at = ? WHERE code_hash = ? AND consumed_at IS NULL"
    return db.execute(sql, (now, digest(code))).rowcount == 1


def _use_refresh(db: Connection, token: str, now: int) -> bool:
    sql = "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL"
    return db.execute(sql, (now, digest(token))).rowcount == 1


def _insert_access(db: Connection, access: AccessRecord) -> None:
    db.execute("INSERT INTO access_tokens VALUES (?, ?, ?, NULL)", (access.jti, access.grant_id, access.expires_at))


def _insert_refresh(db: Connection, refresh: RefreshRecord) -> None:
    db.execute(
        "INSERT INTO refresh_tokens (token_hash, grant_id, expires_at, dpop_jkt) VALUES (?, ?, ?, ?)",
        (digest(refresh.token), refresh.grant_id, refresh.expires_at, refresh.dpop_jkt),
    )


Decide = Callable[[dict[str, list[int]]], "int | None"]
_FAILURES = "SELECT failed_at FROM login_failures WHERE subject = ? ORDER BY failed_at"


@dataclass(frozen=True)
class LoginAttempt:
    """A throttle decision: a wait in seconds, or the rows that record the admitted attempt."""

    retry_after: int | None
    rows: tuple[int, ...]


def _insert_failure(db: Connection, subject: str, now: int, keep: int) -> int:
    # docs/SECURITY.md P23: rows per subject are capped; older ones cannot change a decision. `subject` is the
    # subject's digest: a fixed size whatever was typed as the user name, and no typed name kept.
    row = db.execute(
        "INSERT INTO login_failures (subject, failed_at) VALUES (?, ?) RETURNING rowid", (subject, now)
    ).fetchone()
    db.execute(
        "DELETE FROM login_failures WHERE subject = ? AND rowid NOT IN "
        "(SELECT rowid FROM login_failures WHERE subject = ? ORDER BY failed_at DESC, rowid DESC LIMIT ?)",
        (subject, subject, keep),
    )
    return int(row[0])
