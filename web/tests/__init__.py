"""Unit tests of the client core (a package so its conftest does not shadow server/tests/conftest.py)."""
