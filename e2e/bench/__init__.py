"""Benchmarks (not tests): run with `cd e2e && python -m bench`."""
