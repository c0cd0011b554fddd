"""The authorization request (RFC 6749 §4.1.1 and §4.2.1, OIDC Core §3.1.2.1 and
§3.2.2.1), for code + PKCE and for the legacy implicit flow."""

from .config import ClientConfig
from .discovery import ProviderMetadata, check_code_flow_support
from .errors import ConfigurationError, IssuerMismatch
from .pkce import CODE_CHALLENGE_METHOD, code_challenge_s256
from .session import split_scope
from .transaction import CODE, Transaction
from .urls import add_query

# OIDC Core §3.1.2.1: the prompt values a client may send ("none" alone, never with another).
PROMPTS = ("none", "login", "consent", "select_account")


def build_authorization_url(
    metadata: ProviderMetadata,
    client: ClientConfig,
    transaction: Transaction,
    prompt: "str | None" = None,
    dpop_jkt: "str | None" = None,
) -> str:
    """The URL to send the browser to; every value comes from ``transaction``. ``prompt``:
    "none" (a silent sign-in that fails with login_required rather than show a page),
    "login" (sign in again even with a live provider session), "consent" or "select_account".
    ``dpop_jkt``: the thumbprint of the DPoP key that will redeem the code (RFC 9449 §10)."""
    check_authorization_request(metadata, client, transaction)
    params = authorization_parameters(transaction)
    if dpop_jkt is not None:
        # RFC 9449 §10: the code is bound to the key; implicit tokens never meet the token endpoint
        if transaction.response_type != CODE:
            raise ConfigurationError(
                "dpop_jkt needs the code flow", reason="dpop_needs_code_flow", parameter="dpop_jkt"
            )
        params.append(("dpop_jkt", dpop_jkt))
    if prompt is not None:
        if prompt not in PROMPTS:
            raise ConfigurationError("unknown prompt value", reason="invalid_prompt", parameter="prompt")
        params.append(("prompt", prompt))
    if transaction.max_age is not None:
        # OIDC Core §3.1.2.1: the provider must then sign the visitor in again if their sign-in is older, and
        # name its time in the id_token (auth_time), which the client checks (id_token.check_auth_time)
        if "openid" not in split_scope(transaction.scope):
            raise ConfigurationError(
                "max_age needs the openid scope", reason="max_age_needs_openid", parameter="max_age"
            )
        params.append(("max_age", str(transaction.max_age)))
    return add_query(metadata.authorization_endpoint, params)


def check_authorization_request(metadata: ProviderMetadata, client: ClientConfig, transaction: Transaction) -> None:
    """Guards that must hold before anything is sent to the provider."""
    # RFC 9207 §2.4 / RFC 9700 §4.4: a transaction belongs to the issuer it was started for
    if transaction.issuer != metadata.issuer or client.issuer != metadata.issuer:
        raise IssuerMismatch("transaction issuer differs", reason="transaction_issuer", parameter="issuer")
    # RFC 6749 §4.1.3: the redirect_uri and client must be the registered ones
    if transaction.client_id != client.client_id or transaction.redirect_uri != client.redirect_uri:
        raise ConfigurationError("transaction client differs", reason="transaction_client", parameter="client_id")
    # RFC 8414 §2: only request what the provider advertises
    if transaction.response_type not in metadata.response_types_supported:
        raise ConfigurationError(
            "response_type not offered", reason="unsupported_response_type", parameter="response_type"
        )
    # OIDC Discovery §3: only request a response_mode the provider advertises
    if transaction.response_mode not in metadata.response_modes_supported:
        raise ConfigurationError(
            "response_mode not offered", reason="unsupported_response_mode", parameter="response_mode"
        )
    if transaction.response_type == CODE:
        _check_code_request(metadata, transaction)
    # OIDC Core §3.2.2.1: an id_token is only issued for the openid scope
    elif "id_token" in transaction.response_type and "openid" not in split_scope(transaction.scope):
        raise ConfigurationError("id_token needs scope openid", reason="openid_scope_required", parameter="scope")


def _check_code_request(metadata: ProviderMetadata, transaction: Transaction) -> None:
    check_code_flow_support(metadata)
    # RFC 7636 §4.1 / RFC 9700 §2.1.1: every code request carries a fresh verifier (C3)
    if not transaction.code_verifier:
        raise ConfigurationError(
            "code flow without code_verifier", reason="missing_code_verifier", parameter="code_verifier"
        )


def authorization_parameters(transaction: Transaction) -> "list[tuple[str, str]]":
    """The request parameters, in a fixed order so the timeline is easy to read."""
    params = [
        ("response_type", transaction.response_type),
        ("client_id", transaction.client_id),
        ("redirect_uri", transaction.redirect_uri),
    ]
    if transaction.scope:
        params.append(("scope", transaction.scope))
    params.append(("state", transaction.state))
    # OAuth 2.0 Multiple Response Types §2.1: say explicitly where the response goes
    params.append(("response_mode", transaction.response_mode))
    if transaction.nonce:
        # OIDC Core §3.2.2.1: nonce is required for implicit; harmless and useful for code
        params.append(("nonce", transaction.nonce))
    if transaction.response_type == CODE and transaction.code_verifier:
        # RFC 7636 §4.3: send the S256 challenge, never plain (RFC 9700 §2.1.1)
        params.append(("code_challenge", code_challenge_s256(transaction.code_verifier)))
        params.append(("code_challenge_method", CODE_CHALLENGE_METHOD))
    return params
