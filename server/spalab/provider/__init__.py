"""The OAuth 2.0 / OpenID Connect provider: a pure protocol core (core/) and the Starlette shells around it."""
