"""Signing-key rotation across instances (docs/SECURITY.md P37): a new key is published at once and signs
only from its time, every instance picks it up from the database, and tokens signed by either key
verify everywhere."""

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from provider_support import ISSUER, TEST_CONFIG, Clock, Flow, api
from starlette.testclient import TestClient

from spalab.provider.app import create_provider_app, key_grace
from spalab.provider.config import ProviderConfig
from spalab.provider.keys import KEY_RELOAD, PUBLISH_AHEAD, SIGNING_ALGS, new_signing_key, retired_keys
from spalab.provider.purge import INTERVAL as PURGE_INTERVAL
from spalab.provider.store import SQLITE_FILE, Store


def kid_of(token: str) -> str:
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    return str(header["kid"])


def published(client: TestClient) -> list[str]:
    return [key["kid"] for key in client.get("/jwks").json()["keys"]]


def kids_of(tokens: dict[str, str]) -> tuple[str, str]:
    """The kids that signed a token response's (access token, id_token)."""
    return kid_of(tokens["access_token"]), kid_of(tokens["id_token"])


def add_keys(store: Store, now: int, signs_from: int) -> tuple[str, str]:
    """What `spalab rotate-key` does: a new key of each kind (the id_token's RS256, the access token's ES256);
    their kids as (access token's, id_token's)."""
    kids = {}
    for alg in SIGNING_ALGS:
        kid, private_jwk = new_signing_key(alg)
        store.add_signing_key(kid, private_jwk, now, signs_from=signs_from)
        kids[alg] = kid
    return kids["ES256"], kids["RS256"]


@pytest.fixture
def two_instances(
    config: ProviderConfig, data_dir: Path, clock: Clock, database: str | None
) -> Iterator[tuple[TestClient, TestClient, Store]]:
    """Two provider apps on one database and one clock, and a store of our own on it (the operator's)."""
    apps = [create_provider_app(config, data_dir, clock=clock, database=database) for _ in range(2)]
    operator = Store(database or data_dir / SQLITE_FILE)
    clients = [TestClient(app, base_url=ISSUER, follow_redirects=False) for app in apps]
    try:
        yield clients[0], clients[1], operator
    finally:
        operator.close()
        for client, app in zip(clients, apps, strict=True):
            client.close()
            app.state.provider.store.close()


def test_a_rotated_key_is_published_everywhere_before_it_signs(
    two_instances: tuple[TestClient, TestClient, Store], clock: Clock
) -> None:
    a, b, operator = two_instances
    old_token = Flow(a).tokens()
    old_kids = kids_of(old_token)
    signs_from = clock.now + 2 * KEY_RELOAD
    new_kids = add_keys(operator, clock.now, signs_from)

    clock.advance(KEY_RELOAD)  # every instance has reloaded: the keys are published, not yet signing
    for instance in (a, b):
        assert sorted(published(instance)) == sorted([*old_kids, *new_kids])
        assert kids_of(Flow(instance).tokens()) == old_kids

    clock.now = signs_from  # their time has come: both instances sign with them
    for instance, other in ((a, b), (b, a)):
        tokens = Flow(instance).tokens()
        assert kids_of(tokens) == new_kids
        assert api(other, tokens["access_token"]).status_code == 200
    # What the old key signed still verifies (it stays published).
    assert api(b, old_token["access_token"]).status_code == 200


def test_an_instance_that_meets_an_unknown_kid_reads_the_keys_again(
    config: ProviderConfig, data_dir: Path, clock: Clock, database: str | None
) -> None:
    """An instance started before a key was added learns it from the first token it signed, without waiting
    for its periodic reload."""
    early = create_provider_app(config, data_dir, clock=clock, database=database)
    operator = Store(database or data_dir / SQLITE_FILE)
    new_kid, _ = add_keys(operator, clock.now, clock.now)
    late = create_provider_app(config, data_dir, clock=clock, database=database)
    try:
        with (
            TestClient(early, base_url=ISSUER, follow_redirects=False) as at_early,
            TestClient(late, base_url=ISSUER, follow_redirects=False) as at_late,
        ):
            tokens = Flow(at_late).tokens()
            assert kid_of(tokens["access_token"]) == new_kid
            clock.advance(1)  # less than KEY_RELOAD: only the unknown kid makes `early` read the keys
            assert api(at_early, tokens["access_token"]).status_code == 200
    finally:
        operator.close()
        early.state.provider.store.close()
        late.state.provider.store.close()


def rotate(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "provider.toml"
    config.write_text(TEST_CONFIG)
    command = [sys.executable, "-m", "spalab", "rotate-key", "--config", str(config), "--data-dir", str(tmp_path)]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=60, check=False)


def test_the_rotate_key_command_publishes_a_key_that_signs_later(tmp_path: Path) -> None:
    Store(tmp_path / SQLITE_FILE).close()
    done = rotate(tmp_path, "--signs-in", "600")
    assert done.returncode == 0, done.stderr
    assert "(RS256)" in done.stdout and "(ES256)" in done.stdout, done.stdout
    assert "published now; they sign from" in done.stdout and "(in 600 s); 2 keys published" in done.stdout
    store = Store(tmp_path / SQLITE_FILE)
    try:
        schedule = store.signing_key_schedule()
    finally:
        store.close()
    assert sorted(json.loads(jwk)["alg"] for jwk, _ in schedule) == ["ES256", "RS256"]
    assert all(time.time() + 590 <= signs_from <= time.time() + 600 for _, signs_from in schedule)


def test_the_rotate_key_command_refuses_a_key_that_would_sign_before_every_instance_has_it(tmp_path: Path) -> None:
    done = rotate(tmp_path, "--signs-in", str(KEY_RELOAD))
    assert done.returncode == 2
    assert "so that every instance publishes the key before any signs" in done.stderr


def test_a_replaced_key_is_unpublished_once_nothing_it_signed_can_be_valid(
    two_instances: tuple[TestClient, TestClient, Store], clock: Clock, config: ProviderConfig
) -> None:
    """docs/SECURITY.md P37: the JWKS does not grow with every rotation. A key stays published while a token it
    signed may be valid (its successor has signed for less than the longest JWT lifetime plus a reload
    interval); then the purge unpublishes it, on every instance. The key signing now is never unpublished."""
    a, b, operator = two_instances
    old_kids = kids_of(Flow(a).tokens())
    signs_from = clock.now + PUBLISH_AHEAD
    new_kids = add_keys(operator, clock.now, signs_from)
    clock.now = signs_from
    last_old = Flow(b).tokens()  # signed by the new keys: their time has come
    assert kids_of(last_old) == new_kids
    grace = key_grace(config)

    # A second short of the grace: an old key's last tokens may still be valid somewhere. Every instance has
    # purged (a request after the purge's interval runs one) and read the keys again (its reload is due).
    clock.now = signs_from + grace - 1
    for instance in (a, b):
        Flow(instance).tokens()
        assert set(old_kids) <= set(published(instance))

    clock.now = signs_from + grace + PURGE_INTERVAL
    Flow(a).tokens()  # runs the purge
    clock.advance(KEY_RELOAD)  # every instance reloads the keys
    for instance in (a, b):
        assert sorted(published(instance)) == sorted(new_kids)
        tokens = Flow(instance).tokens()
        assert kids_of(tokens) == new_kids and api(instance, tokens["access_token"]).status_code == 200

    clock.advance(365 * 24 * 3600)  # the keys signing now are never unpublished, however long they sign
    Flow(b).tokens()
    clock.advance(KEY_RELOAD)
    assert sorted(published(a)) == sorted(new_kids)


def test_keys_that_start_signing_at_the_same_moment_are_not_retired_for_each_other() -> None:
    """Two rotations in one second give two keys of a kind with the same signs_from; which of them signs
    depends on an order the databases do not promise, so neither may be retired for the other. The key both
    replaced is."""
    old_rsa, new_rsa = new_signing_key("RS256"), new_signing_key("RS256")
    first_ec, second_ec = new_signing_key("ES256"), new_signing_key("ES256")
    schedule = [(old_rsa[1], 0), (first_ec[1], 100), (second_ec[1], 100), (new_rsa[1], 100)]
    assert retired_keys(schedule, now=1_000_000, grace=600) == [old_rsa[0]]
