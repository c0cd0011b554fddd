"""A tiny test runner in portable Python: imports the given modules, calls every
``test_*`` function, prints a traceback per failure and a final "N passed, M failed".
Used on MicroPython, where pytest does not exist."""

import sys

try:  # for static checkers only; MicroPython has no typing module
    from typing import Callable
except ImportError:
    pass


def _test_functions(module: object) -> "list[tuple[str, Callable[[], object]]]":
    found = []
    for name in sorted(dir(module)):
        value = getattr(module, name)
        if name.startswith("test_") and callable(value):
            found.append((name, value))
    return found


def _report(label: str, error: BaseException) -> None:
    print("FAILED " + label)
    # MicroPython has sys.print_exception; CPython has traceback.
    if hasattr(sys, "print_exception"):
        sys.print_exception(error)
    else:
        import traceback

        traceback.print_exception(type(error), error, error.__traceback__)


def main(module_names: "list[str]", keyword: str = "") -> "tuple[int, int]":
    version = ".".join(str(part) for part in sys.implementation.version[:3])
    print("running on %s %s (%s)" % (sys.implementation.name, version, sys.platform))
    passed = failed = 0
    for module_name in module_names:
        module = __import__(module_name)
        for name, function in _test_functions(module):
            label = module_name + "::" + name
            if keyword and keyword not in label:
                continue
            try:
                function()
            except Exception as error:  # a test runner reports every failure and goes on
                failed += 1
                _report(label, error)
            else:
                passed += 1
    print("%d passed, %d failed" % (passed, failed))
    return passed, failed
