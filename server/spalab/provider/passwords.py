"""Password hashing with Argon2id (memory-hard), via argon2-cffi.

Each check holds 64 MiB for its duration, so checks pass through `GATE`
(docs/SECURITY.md P23): at most one per core runs, a bounded number wait, and the
rest are refused at once with `Busy` rather than queued without limit. The bound is
on memory: a check of a hash configured cheaper than ours (a test user's) takes its
own memory's share of a place, one at our cost or above takes a whole place.
"""

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import anyio.to_thread
from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

# A hash of a random password, verified against when the username is unknown
# so that timing does not tell which accounts exist.
_DUMMY = _hasher.hash("no such user: spend the same time")
# What one check of our own hashes holds (KiB): one place in GATE.
CHECK_MEMORY_KIB = _hasher.memory_cost


class Busy(Exception):
    """Too many password checks are running or waiting: try again in a moment."""


class CheckGate:
    """Admits at most `slots + queue` checks, and at most `per_account` for one account; runs at
    most `slots` at once. Thread-safe and bound to no event loop, so one gate serves every app
    and server in the process. The peaks show what the bound held (the tests read them)."""

    def __init__(self, slots: int, queue: int, per_account: int = 2) -> None:
        self.slots, self.queue, self.per_account = slots, queue, per_account
        self._lock = threading.Lock()
        self._running = threading.Semaphore(slots)
        self._accounts: dict[str, int] = {}
        self.admitted = self.active = self.peak_admitted = self.peak_active = 0
        self.memory_kib = 0  # what the admitted checks hold, at most (slots + queue) places

    def admit(self, account: str, memory_kib: int = CHECK_MEMORY_KIB) -> None:
        """Takes a place for a check that holds `memory_kib` (a whole place at our hashes' cost or above)."""
        cost = self.cost(memory_kib)
        with self._lock:
            # docs/SECURITY.md P23: the queue is bounded too; beyond it the caller answers 503 at once.
            if self.memory_kib + cost > (self.slots + self.queue) * CHECK_MEMORY_KIB:
                raise Busy()
            # docs/SECURITY.md P23: one account (even its owner's correct password, from many browsers)
            # cannot fill the gate and keep everyone else's sign-ins out.
            if self._accounts.get(account, 0) >= self.per_account:
                raise Busy()
            self._accounts[account] = self._accounts.get(account, 0) + 1
            self.admitted += 1
            self.memory_kib += cost
            self.peak_admitted = max(self.peak_admitted, self.admitted)

    @staticmethod
    def cost(memory_kib: int) -> int:
        return max(1, min(memory_kib, CHECK_MEMORY_KIB))

    def reset_peaks(self) -> None:
        with self._lock:
            self.peak_admitted, self.peak_active = self.admitted, self.active

    def leave(self, account: str, memory_kib: int = CHECK_MEMORY_KIB) -> None:
        with self._lock:
            self.admitted -= 1
            self.memory_kib -= self.cost(memory_kib)
            self._accounts[account] -= 1
            if not self._accounts[account]:
                del self._accounts[account]

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Blocks the calling worker thread until one of `slots` is free."""
        with self._running:
            with self._lock:
                self.active += 1
                self.peak_active = max(self.peak_active, self.active)
            try:
                yield
            finally:
                with self._lock:
                    self.active -= 1


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


GATE = CheckGate(slots=_cores(), queue=4 * _cores())


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def is_hash(value: str) -> bool:
    return value.startswith("$argon2id$")


def memory_of(password_hash: str | None) -> int:
    """The memory (KiB) a check against `password_hash` holds; the dummy's (ours) when there is none."""
    try:
        return int(extract_parameters(password_hash or _DUMMY).memory_cost)
    except (InvalidHashError, ValueError):
        return CHECK_MEMORY_KIB


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


class _Admission:
    """One admitted check's place in GATE, given back exactly once: by the worker thread as soon as the
    check is done (its memory is free then), or by the caller if the thread never ran it. Given back
    only after the event loop resumed the caller, a finished check would hold its place for as long
    as the loop is busy with other requests, and a busy server would turn sign-ins away (503) for
    checks that were no longer running."""

    def __init__(self, account: str, memory_kib: int) -> None:
        self.account, self.memory_kib = account, memory_kib
        self._lock = threading.Lock()
        self._left = False

    def leave(self) -> None:
        with self._lock:
            if self._left:
                return
            self._left = True
        GATE.leave(self.account, self.memory_kib)


async def check_password(password_hash: str | None, password: str, account: str) -> bool:
    """verify_password in a worker thread, through GATE; raises Busy when the gate is full
    (or holds this account's share already)."""
    memory_kib = memory_of(password_hash)
    GATE.admit(account, memory_kib)
    admission = _Admission(account, memory_kib)
    try:
        return await anyio.to_thread.run_sync(_gated_verify, password_hash, password, admission)
    finally:
        admission.leave()


def _gated_verify(password_hash: str | None, password: str, admission: _Admission) -> bool:
    try:
        with GATE.slot():
            return verify_password(password_hash, password)
    finally:
        admission.leave()
