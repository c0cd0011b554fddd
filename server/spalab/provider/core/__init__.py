"""The pure protocol core: values in, a decision or value out, or a typed OAuthError.

No I/O, no clock, no randomness, no Starlette, no store and no signing: the shells
(frontchannel, backchannel, issuance) look things up, call these functions, and act.
"""
