"""docs/SECURITY.md P38: an authorization request may bind its code to a DPoP key (`dpop_jkt`, RFC 9449 §10);
that code is then redeemed only with a proof of that key, so a code that leaks with its PKCE verifier
(a log, a proxy, a history synced elsewhere) is worth nothing without the key the client holds. (A script in
the client's own page can still ask that key to sign: docs/SECURITY.md "Accepted risks".)"""

import pytest
from dpop_support import TOKEN_URL, Holder, claims_of, dpop_call, exchange, redeem
from provider_support import Clock, Flow, response_params
from starlette.testclient import TestClient


def test_a_bound_code_is_redeemed_with_a_proof_of_its_key(flow: Flow, clock: Clock) -> None:
    """RFC 9449 §10: the thumbprint named at /authorize is the key of the proof at /token; the tokens are
    bound to it as with any proof (P34)."""
    holder = Holder()
    code = flow.code(dpop_jkt=holder.jkt)
    response = redeem(flow, code, holder.proof("POST", TOKEN_URL, clock.now))
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "DPoP"
    assert claims_of(response.json()["access_token"])["cnf"] == {"jkt": holder.jkt}


def test_another_key_or_no_proof_is_refused_and_leaves_the_code_to_its_key(flow: Flow, clock: Clock) -> None:
    """RFC 9449 §10: "If they do not match, it MUST reject the request": another key's proof → invalid_grant,
    no proof → invalid_dpop_proof. Neither spends the code (as a wrong code_verifier does not), so the client
    that holds the key still signs in; a thief who refused it a second time changes nothing."""
    holder, thief = Holder(), Holder()
    code = flow.code(dpop_jkt=holder.jkt)
    stolen = redeem(flow, code, thief.proof("POST", TOKEN_URL, clock.now))
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    assert "dpop_jkt" in stolen.json()["error_description"]
    bare = redeem(flow, code, None)
    assert bare.status_code == 400 and bare.json()["error"] == "invalid_dpop_proof"
    owner = redeem(flow, code, holder.proof("POST", TOKEN_URL, clock.now))
    assert owner.status_code == 200, owner.text
    assert claims_of(owner.json()["access_token"])["cnf"] == {"jkt": holder.jkt}


def test_a_replay_without_the_key_leaves_the_session_alone(flow: Flow, client: TestClient, clock: Clock) -> None:
    """RFC 6749 §4.1.2 revokes what a replayed code gave, for fear a thief redeemed it first; only the key's
    holder can redeem a bound code, so a replay without the key (anyone who saw the code can send one) is
    refused and revokes nothing. The holder's own replay is a replay as any other (P8): revoked."""
    holder = Holder()
    code = flow.code(dpop_jkt=holder.jkt)
    tokens = redeem(flow, code, holder.proof("POST", TOKEN_URL, clock.now)).json()
    for proof in (None, Holder().proof("POST", TOKEN_URL, clock.now)):
        assert redeem(flow, code, proof).status_code == 400
    assert dpop_call(client, holder, tokens["access_token"], clock.now).status_code == 200
    again = redeem(flow, code, holder.proof("POST", TOKEN_URL, clock.now))
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    assert dpop_call(client, holder, tokens["access_token"], clock.now).status_code == 401


def test_the_binding_survives_the_sign_in_and_consent_pages(flow: Flow, clock: Clock) -> None:
    """The request is kept while the user signs in and consents (pending_authorizations): the code it yields
    at the end is bound all the same (flow.code goes through both pages)."""
    holder = Holder()
    params = flow.code_params(dpop_jkt=holder.jkt, prompt="consent")
    response = flow.run(params)
    code = response_params(response.headers["location"])["code"]
    assert redeem(flow, code, Holder().proof("POST", TOKEN_URL, clock.now)).json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"dpop_jkt": "too-short"}, "not a SHA-256 thumbprint"),
        ({"dpop_jkt": "A" * 42 + "="}, "padding is not base64url"),
        ({"dpop_jkt": "A" * 44}, "one character too many"),
    ],
)
def test_a_malformed_dpop_jkt_is_refused_on_the_redirect_uri(flow: Flow, overrides: dict[str, str], why: str) -> None:
    """A dpop_jkt that cannot be a thumbprint would bind the code to no key anyone holds: invalid_request,
    sent back to the client like any other bad parameter, and no code."""
    response = flow.authorize(flow.code_params(**overrides))
    assert response.status_code == 302, why
    got = response_params(response.headers["location"])
    assert got["error"] == "invalid_request" and "code" not in got, why


def test_dpop_jkt_is_refused_with_the_implicit_flow(flow: Flow) -> None:
    """Implicit tokens never meet the token endpoint, where the binding is checked: a dpop_jkt there would
    promise a binding nothing enforces."""
    params = flow.code_params(
        response_type="token",
        response_mode="fragment",
        code_challenge=None,
        code_challenge_method=None,
        dpop_jkt=Holder().jkt,
    )
    response = flow.authorize(params)
    assert response.status_code == 302
    got = response_params(response.headers["location"], "fragment")
    assert got["error"] == "invalid_request" and "access_token" not in got


def test_without_dpop_jkt_a_code_is_redeemed_as_before(flow: Flow, clock: Clock) -> None:
    """dpop_jkt is the client's choice (RFC 9449 §10: OPTIONAL): a code without it takes a proof or none."""
    assert exchange(flow, Holder().proof("POST", TOKEN_URL, clock.now)).status_code == 200
    assert exchange(flow, None).status_code == 200
