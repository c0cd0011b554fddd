"""The pure protocol core: values in, a decision or value out, or a typed OAuthError.

No I/O, no clock, no randomness, no Starlette, no store and no signing: the shells
(frontchannel, backchannel, issuance, dpop) look things up, call these functions, and act.
Verifying a DPoP proof's signature with the key the proof carries (dpop.py, via joserfc)
is pure computation, so it is decided here.
"""
