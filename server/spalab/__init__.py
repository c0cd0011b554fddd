"""spalab: authorization code + PKCE versus implicit, shown with running code."""

__version__ = "0.1.0"
