# PyScript 0.7 (only what the shell uses).
from typing import Any, Callable, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])

config: dict[str, Any]

def when(event_type: str, selector: str) -> Callable[[_F], _F]: ...
