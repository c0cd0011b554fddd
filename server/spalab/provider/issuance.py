"""Issuing, exchanging and revoking credentials: the glue between the protocol
core (authorization.py, grants.py), the store and the key ring.
"""

from dataclasses import dataclass
from typing import Any, NoReturn

from .config import ProviderConfig
from .core import dpop, grants
from .core.authorization import CODE, ID_TOKEN_TOKEN, AuthorizationRequest
from .core.claims import access_token_claims, id_token_claims, profile_claims
from .core.errors import InsufficientScope, InvalidGrant, InvalidToken
from .core.records import Client, CodeRecord, Grant
from .keys import KeyRing, new_secret
from .store import AccessRecord, IssuedTokens, RefreshRecord, Store


@dataclass
class Issuer:
    config: ProviderConfig
    store: Store
    keys: KeyRing

    # --- the authorization endpoint's answer ------------------------------------

    def authorization_response(
        self, request: AuthorizationRequest, username: str, auth_time: int, now: int
    ) -> dict[str, str | None]:
        grant = self._new_grant(request.client, username, request.scope, auth_time, now)
        params: dict[str, str | None] = {}
        if request.response_type == CODE:
            code = new_secret()
            record = CodeRecord(
                grant.grant_id,
                request.client.client_id,
                request.redirect_uri,
                request.nonce,
                request.code_challenge,
                request.code_challenge_method,
                now + self.config.code_lifetime,
                request.dpop_jkt,
            )
            self.store.issue_code(grant, code, record)
            params["code"] = code
        else:
            # RFC 9700 §2.1.2 / docs/SECURITY.md P13: implicit never yields a refresh token.
            access_token, access = self._access_token(grant, request.scopes, now)
            self.store.issue_implicit(grant, access.record)
            params.update(access_token=access_token, token_type="Bearer", expires_in=str(access.lifetime))
            params["scope"] = request.scope
            if request.response_type == ID_TOKEN_TOKEN:
                params["id_token"] = self._id_token(grant, request.nonce, now, access_token)
        # RFC 6749 §4.1.2: state echoed exactly; RFC 9207 §2: iss on every response.
        params["state"] = request.state
        params["iss"] = self.config.issuer
        return params

    # --- the token endpoint -------------------------------------------------------

    def exchange_code(
        self, form: dict[str, str], client: Client, now: int, proof: dpop.Proof | None = None
    ) -> "TokenResponse":
        code = form.get("code", "")
        record, consumed = self.store.find_code(code)
        if record is not None:
            # docs/SECURITY.md P38: a bound code goes only with its key's proof, checked before anything is spent
            # or revoked: a wrong key leaves the code to its holder, and since only the holder can have redeemed
            # it, a replay without the key is no sign of theft (else anyone who saw the code could end the
            # session). With the key, a replay is a replay as any other (P8).
            dpop.check_code_binding(record.dpop_jkt, proof)
        self._revoke_on_replay(grants.code_replay(record, consumed), now)
        grants.validate_code_exchange(form, client, record, now)
        assert record is not None
        grant = self.store.get_grant(record.grant_id)
        assert grant is not None
        self._check_account(grant, now)
        scopes = grants.allowed_scopes(grant.scope.split(), client)
        response, tokens = self._token_response(grant, client, scopes, record.nonce, now, grant.expires_at, proof)
        # docs/SECURITY.md P9: the code is consumed and the tokens recorded in one transaction; a concurrent
        # redemption that lost revokes the grant there too, and is told so.
        if not self.store.redeem_code(code, grant.grant_id, now, tokens):
            _raise(grants.code_replay(record, True))
        return response

    def refresh(
        self, form: dict[str, str], client: Client, now: int, proof: dpop.Proof | None = None
    ) -> "TokenResponse":
        token = form.get("refresh_token", "")
        grant_id, used, expires_at, bound_jkt = self.store.find_refresh_token(token)
        grant = self.store.get_grant(grant_id) if grant_id else None
        self._revoke_on_replay(grants.refresh_replay(grant, used), now)
        scopes = grants.validate_refresh(form, client, grant, expires_at, now)
        dpop.check_refresh_token_binding(bound_jkt, proof)
        assert grant is not None
        self._check_account(grant, now)
        response, tokens = self._token_response(grant, client, scopes, None, now, expires_at, proof)
        # docs/SECURITY.md P12: rotation in one transaction; a concurrent use that lost revokes the family.
        if not self.store.rotate_refresh_token(token, grant.grant_id, now, tokens):
            _raise(grants.refresh_replay(grant, True))
        return response

    def _check_account(self, grant: Grant, now: int) -> None:
        """docs/SECURITY.md P39: a grant of an account the config no longer has ends with it: revoked (its
        refresh and access tokens with it), and this request refused."""
        if grant.username not in self.config.users:
            self.store.revoke_grant(grant.grant_id, now)
            raise InvalidGrant("the account this grant was for no longer exists")

    def _revoke_on_replay(self, replay: grants.RevokeGrant | None, now: int) -> None:
        """Performs the core's replay decision (grants.code_replay, grants.refresh_replay)."""
        if replay is not None:
            self.store.revoke_grant(replay.grant_id, now)
            raise replay.error

    def _token_response(
        self,
        grant: Grant,
        client: Client,
        scopes: tuple[str, ...],
        nonce: str | None,
        now: int,
        rt_expires: int,
        proof: dpop.Proof | None,
    ) -> tuple["TokenResponse", IssuedTokens]:
        """The token response, its JWTs not signed yet, and what the store must record for it (the caller
        records it; the JWTs are signed once that has landed, away from the database: TokenResponse)."""
        # RFC 9449 §5, §6.1 / docs/SECURITY.md P34: with a proof, the access token is bound to its key.
        jkt = proof.jkt if proof is not None else None
        access_claims, access = self._access_token_claims(grant, scopes, now, jkt)
        jwts = [("access_token", access_claims, "at+jwt")]
        response: dict[str, Any] = {
            "access_token": None,
            "token_type": dpop.token_type(jkt),
            "expires_in": access.lifetime,
            "scope": " ".join(scopes),
        }
        refresh = None
        if client.refresh_tokens:
            refresh_token = new_secret()
            # docs/SECURITY.md P12: the new token inherits the family's absolute expiry.
            rt_jkt = dpop.refresh_token_binding(client, proof)
            refresh = RefreshRecord(refresh_token, grant.grant_id, rt_expires, rt_jkt)
            response["refresh_token"] = refresh_token
        if "openid" in scopes:
            response["id_token"] = None
            jwts.append(("id_token", self._id_token_claims(grant, nonce, now, None), "JWT"))
        return TokenResponse(response, jwts, now), IssuedTokens(access.record, refresh)

    # --- tokens -------------------------------------------------------------------

    def _new_grant(self, client: Client, username: str, scope: str, auth_time: int, now: int) -> Grant:
        grant = Grant(
            new_secret(),
            client.client_id,
            username,
            scope,
            auth_time,
            now,
            now + self.config.refresh_token_lifetime,
            None,
        )
        return grant

    def _access_token(
        self, grant: Grant, scopes: tuple[str, ...], now: int, dpop_jkt: str | None = None
    ) -> tuple[str, "AccessIssued"]:
        claims, issued = self._access_token_claims(grant, scopes, now, dpop_jkt)
        return self.keys.sign(claims, "at+jwt", now), issued

    def _access_token_claims(
        self, grant: Grant, scopes: tuple[str, ...], now: int, dpop_jkt: str | None = None
    ) -> tuple[dict[str, Any], "AccessIssued"]:
        lifetime = self.config.access_token_lifetime
        jti = new_secret()
        claims = access_token_claims(
            self.config.issuer,
            self.config.api_audience,
            grant.username,
            grant.client_id,
            " ".join(scopes),
            now,
            lifetime,
            jti,
            dpop_jkt,
        )
        record = AccessRecord(jti, grant.grant_id, now + lifetime)
        return claims, AccessIssued(record, lifetime)

    def _id_token(self, grant: Grant, nonce: str | None, now: int, access_token: str | None) -> str:
        return self.keys.sign(self._id_token_claims(grant, nonce, now, access_token), "JWT", now)

    def _id_token_claims(self, grant: Grant, nonce: str | None, now: int, access_token: str | None) -> dict[str, Any]:
        user = self.config.users[grant.username]
        return id_token_claims(
            self.config.issuer,
            grant.username,
            grant.client_id,
            now,
            self.config.id_token_lifetime,
            grant.auth_time,
            nonce,
            profile_claims(grant.scope.split(), user.claims),
            access_token,
        )

    # --- using and revoking tokens ------------------------------------------------

    def verify_access_token(self, token: str, now: int) -> dict[str, Any]:
        """RFC 6750 / RFC 9068 §4: a valid, unrevoked token for our API audience (how it was presented is
        judged by the caller: core/dpop.py check_presentation)."""
        claims = self.keys.verify_access_token(token, self.config.issuer, self.config.api_audience, now)
        # docs/SECURITY.md P39: an account removed from the config takes its tokens with it.
        if str(claims.get("sub")) not in self.config.users:
            raise InvalidToken("the account this token was for no longer exists")
        if not self.store.access_token_active(str(claims["jti"]), now):
            raise InvalidToken("the access token was revoked")
        return claims

    @staticmethod
    def check_scope(claims: dict[str, Any], required_scope: str | None) -> None:
        # RFC 6750 §3.1: a token without the resource's scope is insufficient_scope.
        if required_scope and required_scope not in str(claims.get("scope", "")).split():
            raise InsufficientScope(f"this resource needs the {required_scope} scope")

    def revoke(self, token: str, client: Client, now: int) -> None:
        """RFC 7009 §2.1: revoke a refresh token (its whole grant) or an access token."""
        grant_id = self._grant_of(token, now)
        grant = self.store.get_grant(grant_id) if grant_id else None
        # RFC 7009 §2.1: only tokens issued to the requesting client; others are ignored silently.
        if grant is None or grant.client_id != client.client_id:
            return
        if self.store.find_refresh_token(token)[0] is not None:
            self.store.revoke_grant(grant.grant_id, now)
        else:
            self.store.revoke_access_token(self._jti(token, now) or "", now)

    def introspect(self, token: str, client: Client, now: int) -> dict[str, Any]:
        """RFC 7662 §2.2: active flag plus the token's claims."""
        grant_id, used, expires_at, _ = self.store.find_refresh_token(token)
        if grant_id is not None:
            grant = self.store.get_grant(grant_id)
            if grant is None or not grants.refresh_token_active(grant, used, expires_at, now):
                return {"active": False}
            if grant.username not in self.config.users:  # docs/SECURITY.md P39
                return {"active": False}
            if not grants.may_introspect(client, grant.client_id):
                return {"active": False}
            return {
                "active": True,
                "token_type": "refresh_token",
                "client_id": grant.client_id,
                "sub": grant.username,
                "scope": grant.scope,
                "exp": expires_at,
                "iss": self.config.issuer,
            }
        try:
            claims = self.verify_access_token(token, now)
            jkt = dpop.token_binding(claims)
        except InvalidToken:
            return {"active": False}
        if not grants.may_introspect(client, str(claims["client_id"])):
            return {"active": False}
        # RFC 9449 §6.2: a bound token introspects with its cnf (among the claims) and token_type DPoP.
        return {"active": True, "token_type": dpop.token_type(jkt), **claims}

    def _grant_of(self, token: str, now: int) -> str | None:
        grant_id = self.store.find_refresh_token(token)[0]
        if grant_id is None:
            jti = self._jti(token, now)
            grant_id = self.store.access_token_grant(jti) if jti else None
        return grant_id

    def _jti(self, token: str, now: int) -> str | None:
        try:
            claims = self.keys.verify_access_token(token, self.config.issuer, self.config.api_audience, now)
        except InvalidToken:
            return None
        return str(claims["jti"])


@dataclass(frozen=True)
class AccessIssued:
    record: AccessRecord
    lifetime: int


def _raise(replay: grants.RevokeGrant | None) -> NoReturn:
    """Answers a lost race: the store has already revoked the grant in the same transaction."""
    assert replay is not None
    raise replay.error


@dataclass(frozen=True)
class TokenResponse:
    """A token response whose JWTs (`field`, claims, `typ`) are still to be signed. The grant is decided
    and its tokens recorded first, where the database is (on SQLite, in the thread that commits); the
    RSA signatures, the costliest part, are made on another thread while that commit syncs, so the
    database's one writer never waits for them. Nothing is sent before both are done (database.py)."""

    body: dict[str, Any]
    jwts: list[tuple[str, dict[str, Any], str]]
    now: int

    def signed(self, keys: KeyRing) -> dict[str, Any]:
        body = dict(self.body)
        for field, claims, typ in self.jwts:
            body[field] = keys.sign(claims, typ, self.now)
        return body
