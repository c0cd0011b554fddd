"""The provider's configuration: a documented TOML file turned into frozen settings.

Errors name the key and, where the file has it, the line, so a user can fix a
config written from the README alone. Passwords are hashed with Argon2id as
they load and never kept in plain text.
"""

import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from ..hosts import host_name, issuer_host, origin_of
from . import passwords
from .core.records import SCOPES, Client
from .database import is_postgres_url


class ConfigError(Exception):
    """The configuration file is unreadable or invalid; the message says where."""


@dataclass(frozen=True)
class User:
    username: str
    password_hash: str = field(repr=False)
    claims: dict[str, str] = field(default_factory=dict)
    # The plain password, kept only for the demo login page's hint.
    demo_password: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ProviderConfig:
    issuer: str
    clients: dict[str, Client]
    users: dict[str, User]
    api_audience: str
    access_token_lifetime: int = 300
    id_token_lifetime: int = 300
    refresh_token_lifetime: int = 8 * 3600
    code_lifetime: int = 60
    session_lifetime: int = 8 * 3600
    request_log: bool = False
    demo: bool = False
    # docs/SECURITY.md P24: host names answered besides the issuer's and the loopback names.
    allowed_hosts: tuple[str, ...] = ()
    # docs/SECURITY.md P32: DPoP proofs must carry a server nonce (RFC 9449 §8, §9).
    dpop_nonce: bool = False
    # A PostgreSQL URL for the store (store.py); None: the SQLite file in the data dir.
    database: str | None = field(default=None, repr=False)

    @property
    def cors_origins(self) -> frozenset[str]:
        return frozenset(o for c in self.clients.values() for o in c.cors_origins)


_TOP_KEYS: dict[str, type] = {
    "issuer": str,
    "api_audience": str,
    "access_token_lifetime": int,
    "id_token_lifetime": int,
    "refresh_token_lifetime": int,
    "code_lifetime": int,
    "session_lifetime": int,
    "request_log": bool,
    "allowed_hosts": list,
    "dpop_nonce": bool,
    "database": str,
    "clients": list,
    "users": list,
}
_CLIENT_KEYS: dict[str, type] = {
    "client_id": str,
    "name": str,
    "redirect_uris": list,
    "allow_implicit": bool,
    "client_secret": str,
    "scopes": list,
    "cors_origins": list,
    "refresh_tokens": bool,
    "post_logout_redirect_uris": list,
    "dpop_bound_access_tokens": bool,
    "silent_renewal_frame": bool,
}
_USER_KEYS: dict[str, type] = {
    "username": str,
    "password": str,
    "password_hash": str,
    "claims": dict,
}


def load_config_file(path: Path, **overrides: Any) -> ProviderConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_config(text, str(path), **overrides)


def load_demo_config(issuer: str, spa_origin: str) -> ProviderConfig:
    text = resources.files("spalab.provider").joinpath("demo.toml").read_text(encoding="utf-8")
    text = text.replace("@ISSUER@", issuer).replace("@SPA_ORIGIN@", spa_origin)
    return parse_config(text, "built-in demo config", demo=True)


def parse_config(text: str, source: str, **overrides: Any) -> ProviderConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    locate = _Locator(text, source)
    _check_keys(data, _TOP_KEYS, "", locate)
    issuer = _require(data, "issuer", "", locate)
    _check_url(issuer, "issuer", locate)
    # RFC 8414 §2: the issuer has no query or fragment.
    if "?" in issuer or "#" in issuer or issuer.endswith("/"):
        raise locate.error("issuer", "", "must have no query, fragment or trailing slash")
    # docs/SECURITY.md P24: the provider answers for the issuer's host, so it must have a valid one.
    if issuer_host(issuer) is None:
        raise locate.error("issuer", "", f"{issuer!r} has no valid host name")
    clients = _load_clients(data.get("clients", []), locate)
    users = _load_users(data.get("users", []), locate, keep_demo_passwords=overrides.get("demo", False))
    lifetimes = {k: data[k] for k in _TOP_KEYS if k.endswith("_lifetime") and k in data}
    for key, value in lifetimes.items():
        if value <= 0:
            raise locate.error(key, "", "must be a positive number of seconds")
    # RFC 9700 §4.1.3 / docs/SECURITY.md P9: codes live 60 s at most.
    if lifetimes.get("code_lifetime", 60) > 60:
        raise locate.error("code_lifetime", "", "must be 60 seconds or less")
    return ProviderConfig(
        issuer=issuer,
        clients=clients,
        users=users,
        api_audience=data.get("api_audience", issuer + "/api"),
        request_log=data.get("request_log", False),
        allowed_hosts=_allowed_hosts(data, locate),
        dpop_nonce=data.get("dpop_nonce", False),
        database=_database(data, locate),
        **lifetimes,
        **overrides,
    )


def _database(data: dict[str, Any], locate: "_Locator") -> str | None:
    url = data.get("database")
    if url is not None and not is_postgres_url(url):
        raise locate.error("database", "", "must be a PostgreSQL URL (postgresql://...); leave it out for SQLite")
    return url


def _allowed_hosts(data: dict[str, Any], locate: "_Locator") -> tuple[str, ...]:
    names = []
    for value in _string_list(data, "allowed_hosts", "", locate):
        name = host_name(value)
        # Host names only: ports are not compared (hosts.py says why).
        if name is None or (":" in value and not value.endswith("]")):
            raise locate.error("allowed_hosts", "", f"{value!r} is not a host name (no scheme, port or path)")
        names.append(name)
    return tuple(names)


def _load_clients(items: list[Any], locate: "_Locator") -> dict[str, Client]:
    clients: dict[str, Client] = {}
    for index, item in enumerate(items):
        where = f"clients[{index}]"
        if not isinstance(item, dict):
            raise locate.error("clients", "", "must be an array of tables ([[clients]])")
        _check_keys(item, _CLIENT_KEYS, where, locate)
        client_id = _require(item, "client_id", where, locate)
        if client_id in clients:
            raise locate.error("client_id", where, f"duplicate client_id {client_id!r}")
        uris = _redirect_uris(item, "redirect_uris", where, locate, required=True)
        # RP-Initiated Logout §3.1: registered like redirect_uris, and matched as exactly.
        post_logout_uris = _redirect_uris(item, "post_logout_redirect_uris", where, locate)
        scopes = _string_list(item, "scopes", where, locate) or SCOPES
        unknown = [s for s in scopes if s not in SCOPES]
        if unknown:
            raise locate.error("scopes", where, f"unknown scope {unknown[0]!r}; known: {' '.join(SCOPES)}")
        origins = _string_list(item, "cors_origins", where, locate) or tuple(dict.fromkeys(origin_of(u) for u in uris))
        for origin in origins:
            if origin != origin_of(origin):
                raise locate.error("cors_origins", where, f"{origin!r} is not an origin (scheme://host[:port])")
        # docs/SECURITY.md P34: implicit tokens leave through the URL, without a proof, so they cannot be bound.
        if item.get("dpop_bound_access_tokens", False) and item.get("allow_implicit", False):
            raise locate.error(
                "dpop_bound_access_tokens",
                where,
                "cannot be true with allow_implicit (implicit tokens cannot be DPoP-bound)",
            )
        clients[client_id] = Client(
            client_id=client_id,
            redirect_uris=uris,
            name=item.get("name", client_id),
            allow_implicit=item.get("allow_implicit", False),
            client_secret=item.get("client_secret"),
            scopes=tuple(scopes),
            cors_origins=tuple(origins),
            refresh_tokens=item.get("refresh_tokens", True),
            post_logout_redirect_uris=post_logout_uris,
            dpop_bound_access_tokens=item.get("dpop_bound_access_tokens", False),
            # docs/SECURITY.md P36: opt-in; then framed only by the pages of its own redirect URIs' origins.
            frame_origins=tuple(dict.fromkeys(origin_of(u) for u in uris))
            if item.get("silent_renewal_frame", False)
            else (),
        )
    return clients


def _redirect_uris(
    item: dict[str, Any], key: str, where: str, locate: "_Locator", required: bool = False
) -> tuple[str, ...]:
    uris = _string_list(item, key, where, locate, required=required)
    for uri in uris:
        # RFC 6749 §3.1.2: absolute URI without a fragment.
        _check_url(uri, key, locate, where=where)
        if "#" in uri:
            raise locate.error(key, where, "must not contain a fragment")
    return uris


def _load_users(items: list[Any], locate: "_Locator", keep_demo_passwords: bool) -> dict[str, User]:
    users: dict[str, User] = {}
    for index, item in enumerate(items):
        where = f"users[{index}]"
        if not isinstance(item, dict):
            raise locate.error("users", "", "must be an array of tables ([[users]])")
        _check_keys(item, _USER_KEYS, where, locate)
        username = _require(item, "username", where, locate)
        # docs/SECURITY.md P23: throttling and device cookies key on the lower-cased name, so two users
        # differing only in case would share (and could unlock) each other's budgets.
        if username.lower() in {name.lower() for name in users}:
            raise locate.error("username", where, f"duplicate username {username!r} (usernames ignore case)")
        claims = item.get("claims", {})
        for key, value in claims.items():
            if not isinstance(value, (str, bool)):
                raise locate.error(key, where + ".claims", "must be a string or boolean")
        if ("password" in item) == ("password_hash" in item):
            raise locate.error("password", where, "give exactly one of password or password_hash")
        if "password" in item:
            password_hash = passwords.hash_password(item["password"])
        elif passwords.is_hash(item["password_hash"]):
            password_hash = item["password_hash"]
        else:
            raise locate.error("password_hash", where, "must be an Argon2id hash ($argon2id$...)")
        # Only the demo's login page shows passwords; otherwise the plain text is dropped here.
        shown = item.get("password") if keep_demo_passwords else None
        users[username] = User(username, password_hash, dict(claims), shown)
    return users


_URL = re.compile(r"https?://[^/?#\s]+(/[^\s]*)?")


def _check_url(value: str, key: str, locate: "_Locator", where: str = "") -> None:
    try:
        origin_of(value)  # an unclosed IPv6 bracket passes the pattern but cannot be split
    except ValueError:
        raise locate.error(key, where, f"{value!r} is not an absolute http(s) URL") from None
    if not _URL.fullmatch(value):
        raise locate.error(key, where, f"{value!r} is not an absolute http(s) URL")


def _check_keys(table: dict[str, Any], known: dict[str, type], where: str, locate: "_Locator") -> None:
    for key, value in table.items():
        if key not in known:
            raise locate.error(key, where, f"unknown key; known keys: {', '.join(known)}")
        expected = known[key]
        # bool is a subclass of int: reject true where a number is wanted.
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise locate.error(key, where, f"must be {_TYPE_NAMES[expected]}, not {_toml_type(value)}")


def _require(table: dict[str, Any], key: str, where: str, locate: "_Locator") -> Any:
    if key not in table or table[key] in ("", []):
        raise locate.error(key, where, "is required", at_table=True)
    return table[key]


def _string_list(
    table: dict[str, Any], key: str, where: str, locate: "_Locator", required: bool = False
) -> tuple[str, ...]:
    if key not in table:
        if required:
            raise locate.error(key, where, "is required", at_table=True)
        return ()
    value = table[key]
    if not all(isinstance(v, str) and v for v in value) or (required and not value):
        raise locate.error(key, where, "must be a non-empty array of strings")
    return tuple(value)


_TYPE_NAMES = {str: "a string", int: "an integer", bool: "true or false", list: "an array", dict: "a table"}


def _toml_type(value: Any) -> str:
    for kind, name in ((bool, "true or false"), (int, "an integer"), (str, "a string"), (list, "an array")):
        if isinstance(value, kind):
            return name
    return "a table" if isinstance(value, dict) else type(value).__name__


class _Locator:
    """Finds the line where a key stands, for error messages."""

    def __init__(self, text: str, source: str) -> None:
        self.lines = text.splitlines()
        self.source = source

    def error(self, key: str, where: str, message: str, at_table: bool = False) -> ConfigError:
        line = self._find(key, where, at_table)
        place = f"{self.source}, line {line}" if line else self.source
        name = f"{where}.{key}" if where else key
        return ConfigError(f"{place}: {name}: {message}")

    def _find(self, key: str, where: str, at_table: bool) -> int | None:
        start, end = self._table_span(where)
        if start is None:
            # A table written inline (clients = [{ ... }]): point at the array's line.
            return self._find(where.partition("[")[0], "", False)
        name = re.escape(key)
        patterns = [
            re.compile(rf"^\s*{name}\s*="),
            # README promise (key and line): also a dotted key (key.x = 1), a sub-table header
            # ([clients.key]) and a key inside an inline table (claims = { key = 1 }).
            re.compile(rf"(?:^\s*|[{{,.\[]\s*){name}\s*[=.\]]"),
        ]
        for pattern in patterns:
            for number in range(start, end):
                if pattern.search(self.lines[number]):
                    return number + 1
        if not where:
            # A top-level key written as a table header: [key] or [[key]].
            header = re.compile(rf"^\s*\[\[?\s*{name}\s*[\].]")
            found = next((i for i, line in enumerate(self.lines) if header.match(line)), None)
            if found is not None:
                return found + 1
        return start if at_table and start else None

    def _table_span(self, where: str) -> tuple[int | None, int]:
        if not where:
            first_table = next(
                (i for i, line in enumerate(self.lines) if line.strip().startswith("[")), len(self.lines)
            )
            return 0, first_table
        name, _, rest = where.partition("[")
        index = int(rest.split("]", 1)[0])
        headers = [i for i, line in enumerate(self.lines) if line.strip() == f"[[{name}]]"]
        if index >= len(headers):
            return None, 0
        start = headers[index] + 1
        end = next(
            (i for i in range(start, len(self.lines)) if self.lines[i].strip().startswith("[[")), len(self.lines)
        )
        return start, end
