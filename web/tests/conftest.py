"""Make the package (web/client/spalab_auth) and the shared portable helpers
(client_support, client_vectors) importable under their plain names, as they are
on MicroPython. Appended, not prepended, so nothing here can shadow another suite's
modules; web/tests is a package so this conftest never shadows server/tests/conftest.py."""

import pathlib
import sys

TESTS = pathlib.Path(__file__).resolve().parent
WEB = TESTS.parent

for path in (str(WEB / "client"), str(WEB), str(TESTS)):
    if path not in sys.path:
        sys.path.append(path)
