"""The provider's TOML configuration: the README's example loads; mistakes name the key and the
line; secrets are hashed as they load and never shown in a repr."""

import re
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from spalab.provider.config import ConfigError, ProviderConfig, User, load_config_file, load_demo_config, parse_config
from spalab.provider.core.records import Client

README = Path(__file__).resolve().parents[3] / "README.md"
HEAD = 'issuer = "http://127.0.0.1:9000"\n'
CLIENT = '[[clients]]\nclient_id = "app"\nredirect_uris = ["http://localhost:8000/"]\n'
USER = '[[users]]\nusername = "alice"\npassword = "wonderland"\n'


def _readme_config() -> str:
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) == 1, "the README has one example config"
    return blocks[0]


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "idp.toml")
    return str(caught.value)


def _assert_names(message: str, key: str, line: int | None) -> None:
    assert message.startswith("idp.toml"), message
    assert re.search(rf"(^|[\s.\]]){re.escape(key)}:", message), message
    if line is not None:
        assert f"line {line}:" in message, message


# --- what loads ---------------------------------------------------------------------------------


def test_readme_example_config_loads() -> None:
    """README "Configuration file": the documented example is a working config."""
    config = parse_config(_readme_config(), "README.md")
    assert config.issuer == "http://127.0.0.1:9000"
    client = config.clients["spa-demo"]
    assert client.redirect_uris == ("http://localhost:8000/",)
    assert client.allow_implicit is True and client.client_secret is None
    assert client.cors_origins == ("http://localhost:8000",)
    assert config.users["alice"].claims["name"] == "Alice Liddell"
    assert config.api_audience == "http://127.0.0.1:9000/api"
    assert (config.code_lifetime, config.refresh_token_lifetime) == (60, 28800)


def test_readme_example_with_every_commented_key_enabled_loads() -> None:
    """README "Configuration file": every documented optional key is a real key with a valid example."""
    text = _readme_config()
    enabled = re.sub(r"^# (?=[a-z_]+ = )", "", text, flags=re.MULTILINE)
    # The password_hash line is an alternative to password, not an addition.
    enabled = "\n".join(line for line in enabled.splitlines() if not line.startswith("password_hash"))
    enabled = enabled.replace('client_secret = "..."', 'client_secret = "a-real-secret"')
    config = parse_config(enabled, "README.md")
    assert config.clients["spa-demo"].name == "My app"
    assert config.clients["spa-demo"].is_confidential
    assert config.request_log is False


def test_builtin_demo_config_loads() -> None:
    """DESIGN.md: the demo's own config is valid, with the SPA origin filled in."""
    config = load_demo_config("http://127.0.0.1:9000", "http://localhost:8000")
    assert config.demo and config.request_log
    # the example app's, with its tokens in memory and in a Web Worker (storage="worker"), and the lab's
    # injected-script pages (E14), one per way of holding tokens, each on Pyodide and MicroPython
    examples = ("", "mpy.html", "worker.html", "worker-mpy.html")
    labs = [
        f"lab/storage/{variant}/{page}"
        for variant in ("memory", "session", "shared", "dpop", "worker")
        for page in ("", "mpy.html")
    ]
    pages = tuple(f"http://localhost:8000/{page}" for page in [f"example/{p}" for p in examples] + labs)
    assert config.clients["spa-demo"].redirect_uris == (
        "http://localhost:8000/",
        "http://localhost:8000/popup-callback.html",
        *pages,
    )
    assert config.clients["spa-demo"].post_logout_redirect_uris == ("http://localhost:8000/", *pages)
    assert config.clients["baseline-oidc-client-ts"].redirect_uris == (
        "http://localhost:8000/baseline/",
        "http://localhost:8000/lab/storage/baseline/",
    )
    assert not config.clients["baseline-oidc-client-ts"].is_confidential
    assert config.clients["confidential-demo"].is_confidential


def test_load_config_file_reads_a_file_and_names_a_missing_one(tmp_path: Path) -> None:
    """STYLE.md §8: a config file by path; a missing file is a clear error naming it."""
    path = tmp_path / "idp.toml"
    path.write_text(HEAD + CLIENT, encoding="utf-8")
    assert load_config_file(path).clients["app"].client_id == "app"
    with pytest.raises(ConfigError, match="nope.toml"):
        load_config_file(tmp_path / "nope.toml")


# --- mistakes name the key and the line -----------------------------------------------------------


UNKNOWN_KEYS = [
    (HEAD + "isuer = 1\n", "isuer", 2),
    (HEAD + "port = 9000\n", "port", 2),
    (HEAD + "server.port = 9000\n", "server", 2),
    (HEAD + "[server]\nport = 9000\n", "server", 2),
    (HEAD + CLIENT + 'redirect_uri = "http://localhost:8000/"\n', "clients[0].redirect_uri", 5),
    (HEAD + CLIENT + "pkce.required = false\n", "clients[0].pkce", 5),
    (HEAD + CLIENT + "[clients.extra]\nx = 1\n", "clients[0].extra", 5),
    (HEAD + CLIENT + CLIENT.replace('"app"', '"b"') + "secret = 'x'\n", "clients[1].secret", 8),
    (HEAD + USER + 'email = "a@example.test"\n', "users[0].email", 5),
]


@pytest.mark.parametrize(("text", "key", "line"), UNKNOWN_KEYS, ids=[f"{k} line {n}" for _, k, n in UNKNOWN_KEYS])
def test_unknown_keys_are_errors_naming_key_and_line(text: str, key: str, line: int) -> None:
    """README "Configuration file": unknown keys are errors that name the key and the line."""
    _assert_names(_error(text), key, line)


WRONG_TYPES = [
    (HEAD + 'code_lifetime = "60"\n', "code_lifetime", 2),
    (HEAD + "access_token_lifetime = true\n", "access_token_lifetime", 2),
    (HEAD + "refresh_token_lifetime = 3600.5\n", "refresh_token_lifetime", 2),
    (HEAD + 'request_log = "yes"\n', "request_log", 2),
    ("issuer = 9000\n", "issuer", 1),
    (HEAD + 'clients = "app"\n', "clients", 2),
    (HEAD + '[clients]\nclient_id = "app"\n', "clients", 2),
    (HEAD + CLIENT + 'allow_implicit = "yes"\n', "clients[0].allow_implicit", 5),
    (HEAD + CLIENT.replace('["http://localhost:8000/"]', '"http://localhost:8000/"'), "clients[0].redirect_uris", 4),
    (HEAD + CLIENT.replace('["http://localhost:8000/"]', "[1]"), "clients[0].redirect_uris", 4),
    (HEAD + CLIENT + 'scopes = "openid"\n', "clients[0].scopes", 5),
    (HEAD + CLIENT + "client_secret = 42\n", "clients[0].client_secret", 5),
    (HEAD + CLIENT + "refresh_tokens = 0\n", "clients[0].refresh_tokens", 5),
    (HEAD + USER.replace('"alice"', "7"), "users[0].username", 3),
    (HEAD + USER + 'claims = "Alice"\n', "users[0].claims", 5),
    (HEAD + USER + "claims = { name = 1 }\n", "users[0].claims.name", 5),
    (HEAD + USER + "[users.claims]\nname = [1]\n", "users[0].claims.name", 6),
]


@pytest.mark.parametrize(("text", "key", "line"), WRONG_TYPES, ids=[f"{k} line {n}" for _, k, n in WRONG_TYPES])
def test_wrong_types_are_errors_naming_key_and_line(text: str, key: str, line: int) -> None:
    """README "Configuration file": wrong types are errors that name the key and the line."""
    _assert_names(_error(text), key, line)


def test_bad_toml_gives_the_line() -> None:
    """README "Configuration file": a syntax error says where it is."""
    message = _error(HEAD + CLIENT + 'name = "unterminated\n')
    assert message.startswith("idp.toml")
    assert "line 5" in message


def test_missing_required_keys_are_named() -> None:
    """RFC 8414 §2: issuer is required; a client needs client_id and redirect_uris."""
    _assert_names(_error("request_log = true\n"), "issuer", None)
    _assert_names(
        _error(HEAD + '[[clients]]\nname = "x"\nredirect_uris = ["http://a.test/"]\n'), "clients[0].client_id", 2
    )
    _assert_names(_error(HEAD + '[[clients]]\nclient_id = "x"\n'), "clients[0].redirect_uris", 2)
    _assert_names(_error(HEAD + CLIENT.replace('["http://localhost:8000/"]', "[]")), "clients[0].redirect_uris", 4)
    _assert_names(_error(HEAD + '[[users]]\nusername = "u"\n'), "users[0].password", None)


def test_duplicate_client_ids_are_refused() -> None:
    """RFC 6749 §2.2: a client_id identifies one client; a second one with that id is an error at its line."""
    _assert_names(_error(HEAD + CLIENT + CLIENT), "clients[1].client_id", 6)


def test_duplicate_usernames_are_refused() -> None:
    """OIDC Core §2: sub identifies one user; a duplicate username is an error."""
    _assert_names(_error(HEAD + USER + USER.replace('"wonderland"', '"other"')), "users[1].username", 6)
    # docs/SECURITY.md P23: throttling keys on the lower-cased name, so case does not make a new user.
    _assert_names(_error(HEAD + USER + USER.replace('"alice"', '"Alice"')), "users[1].username", 6)


@pytest.mark.parametrize(
    "uri",
    ["http://localhost:8000/#", "http://localhost:8000/#frag", "http://localhost:8000/cb?a=1#x"],
)
def test_redirect_uris_with_a_fragment_are_refused(uri: str) -> None:
    """RFC 6749 §3.1.2: the redirection endpoint URI must not include a fragment."""
    _assert_names(_error(HEAD + CLIENT.replace("http://localhost:8000/", uri)), "clients[0].redirect_uris", 4)


@pytest.mark.parametrize("uri", ["/signed-out", "javascript:alert(1)", "http://localhost:8000/#x", "http://"])
def test_post_logout_redirect_uris_are_checked_like_redirect_uris(uri: str) -> None:
    """RP-Initiated Logout §3.1: absolute http(s) URIs without a fragment, like redirect_uris."""
    text = HEAD + CLIENT + f'post_logout_redirect_uris = ["{uri}"]\n'
    _assert_names(_error(text), "clients[0].post_logout_redirect_uris", 5)
    fine = parse_config(HEAD + CLIENT + 'post_logout_redirect_uris = ["http://localhost:8000/bye?a=1"]\n', "idp.toml")
    assert fine.clients["app"].post_logout_redirect_uris == ("http://localhost:8000/bye?a=1",)


@pytest.mark.parametrize(
    "uri",
    [
        "/callback",
        "localhost:8000/",
        "javascript:alert(1)",
        "http://",
        "ftp://a.test/",
        "http://a b/",
        "http://a.test/cb\\n",
    ],
)
def test_redirect_uris_must_be_absolute_http_urls(uri: str) -> None:
    """RFC 6749 §3.1.2: the redirection endpoint URI must be an absolute URI."""
    _assert_names(_error(HEAD + CLIENT.replace("http://localhost:8000/", uri)), "clients[0].redirect_uris", 4)


@pytest.mark.parametrize(
    "issuer", ["http://127.0.0.1:9000/", "http://127.0.0.1:9000?x=1", "http://127.0.0.1:9000#f", "127.0.0.1:9000"]
)
def test_issuer_must_be_a_bare_url(issuer: str) -> None:
    """RFC 8414 §2: the issuer is an https/http URL with no query or fragment (and here no trailing slash)."""
    _assert_names(_error(f'issuer = "{issuer}"\n'), "issuer", 1)


@pytest.mark.parametrize("lifetime", [61, 3600])
def test_code_lifetime_over_60_seconds_is_refused(lifetime: int) -> None:
    """docs/SECURITY.md P9, RFC 9700 §4.1.3: codes live 60 s at most."""
    _assert_names(_error(HEAD + f"code_lifetime = {lifetime}\n"), "code_lifetime", 2)
    assert parse_config(HEAD + "code_lifetime = 60\n", "idp.toml").code_lifetime == 60


@pytest.mark.parametrize(
    "key", ["access_token_lifetime", "code_lifetime", "refresh_token_lifetime", "session_lifetime"]
)
def test_lifetimes_must_be_positive(key: str) -> None:
    """STYLE.md §8: a zero or negative lifetime is a mistake, not a setting."""
    _assert_names(_error(HEAD + f"{key} = 0\n"), key, 2)
    _assert_names(_error(HEAD + f"{key} = -5\n"), key, 2)


def test_unknown_scopes_and_bad_origins_are_refused() -> None:
    """RFC 6749 §3.3; Fetch: only known scopes; cors_origins are origins, not URLs."""
    _assert_names(_error(HEAD + CLIENT + 'scopes = ["openid", "admin"]\n'), "clients[0].scopes", 5)
    _assert_names(_error(HEAD + CLIENT + 'cors_origins = ["http://localhost:8000/"]\n'), "clients[0].cors_origins", 5)
    _assert_names(_error(HEAD + CLIENT + 'cors_origins = ["http://localhost:8000#x"]\n'), "clients[0].cors_origins", 5)


def test_a_url_that_cannot_be_split_is_a_config_error_not_a_crash() -> None:
    """STYLE.md §8: an unclosed IPv6 bracket names the key, like any other bad URL."""
    _assert_names(_error(HEAD.replace("http://127.0.0.1:9000", "http://[::1:9000")), "issuer", 1)


# --- secrets --------------------------------------------------------------------------------------


def _config_with_secrets() -> ProviderConfig:
    return parse_config(HEAD + CLIENT + 'client_secret = "client-secret-value"\n' + USER, "idp.toml")


def test_passwords_are_hashed_with_argon2id() -> None:
    """STYLE.md §8, OWASP ASVS V2.4: plain passwords become Argon2id hashes as the config loads."""
    user = _config_with_secrets().users["alice"]
    assert user.password_hash.startswith("$argon2id$")
    assert "wonderland" not in user.password_hash
    assert PasswordHasher().verify(user.password_hash, "wonderland")
    # Two loads salt differently.
    assert _config_with_secrets().users["alice"].password_hash != user.password_hash


def test_a_given_password_hash_must_be_argon2id() -> None:
    """STYLE.md §8: password_hash takes Argon2id only; password and password_hash are exclusive."""
    good = PasswordHasher().hash("wonderland")
    config = parse_config(HEAD + f'[[users]]\nusername = "alice"\npassword_hash = "{good}"\n', "idp.toml")
    assert config.users["alice"].password_hash == good
    _assert_names(
        _error(HEAD + '[[users]]\nusername = "a"\npassword_hash = "5f4dcc3b5aa765d61d8327deb882cf99"\n'),
        "users[0].password_hash",
        4,
    )
    _assert_names(_error(HEAD + USER + f'password_hash = "{good}"\n'), "users[0].password", 4)


def test_secrets_never_appear_in_reprs() -> None:
    """STYLE.md §8: secrets never appear in reprs or logs: not the password, its hash, or the client secret."""
    config = _config_with_secrets()
    user, client = config.users["alice"], config.clients["app"]
    shown = " ".join([repr(user), str(user), repr(client), str(client), repr(config), str(config)])
    for secret in ("wonderland", user.password_hash, "$argon2id$", "client-secret-value"):
        assert secret not in shown
    assert "alice" in repr(user) and "app" in repr(client)


def test_user_and_client_reprs_built_directly_hide_secrets() -> None:
    """STYLE.md §8: the value types themselves hide secrets, however they are built."""
    user = User("u", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", demo_password="pw-1234")
    client = Client("c", ("http://a.test/",), client_secret="sec-5678")
    assert "argon2" not in repr(user) and "pw-1234" not in repr(user)
    assert "sec-5678" not in repr(client)


def test_plain_passwords_are_kept_only_for_the_demo_login_page() -> None:
    """docs/SECURITY.md P21: outside demo mode no plain-text password stays in memory."""
    text = 'issuer = "http://127.0.0.1:9000"\n[[users]]\nusername = "u"\npassword = "pw-1234"\n'
    assert parse_config(text, "t").users["u"].demo_password is None
    assert parse_config(text, "t", demo=True).users["u"].demo_password == "pw-1234"
