"""Wrong passwords make the next sign-in wait, per client address and across the whole server, each wait
doubling up to a cap: a new browser session or a new address costs a guesser nothing, so a per-session delay
alone let 5 sessions guess 3.3 times a second. Plain Python with an injectable clock, so the web gate enforces
the waits and tests read them without sleeping."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

_MAX_DOUBLINGS = 64  # beyond any cap; keeps 2 ** n a float that cannot overflow


@dataclass(frozen=True)
class BackoffLimits:
    """How failures turn into a wait: none for the first `free`, then `first_wait_s` doubling every
    `doubling_every` failures up to `cap_s`; a spell of `forget_after_s` without a failure starts over."""

    free: int
    first_wait_s: float
    doubling_every: int
    cap_s: float
    forget_after_s: float

    def wait_after(self, failures: int) -> float:
        """The wait that `failures` in a row impose after the last of them."""
        if failures < self.free:
            return 0.0
        doublings = min((failures - self.free) / self.doubling_every, _MAX_DOUBLINGS)
        return min(self.cap_s, self.first_wait_s * 2.0**doublings)


# A person mistyping gets three tries at once; one address guessing is at a try per 15 minutes by its 14th.
PER_ADDRESS = BackoffLimits(free=3, first_wait_s=1.0, doubling_every=1, cap_s=900.0, forget_after_s=3600.0)
# Many addresses (IPv6 makes them cheap, a proxy can forge them) together: slower to start, so a team's typos
# stay free, and capped lower, because it also keeps the rightful users waiting while someone guesses.
SERVER_WIDE = BackoffLimits(free=10, first_wait_s=1.0, doubling_every=4, cap_s=300.0, forget_after_s=900.0)
MAX_ADDRESSES = 10_000  # addresses remembered; the oldest are dropped first, the server-wide count still holds


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0


class SignInBackoff:
    """The sign-in waits of one server process. Thread-safe: every browser session shares it."""

    def __init__(
        self,
        per_address: BackoffLimits = PER_ADDRESS,
        server_wide: BackoffLimits = SERVER_WIDE,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = MAX_ADDRESSES,
    ) -> None:
        self._per_address = per_address
        self._server_wide = server_wide
        self._clock = clock
        self._max_addresses = max_addresses
        self._addresses: OrderedDict[str, _Failures] = OrderedDict()
        self._server = _Failures()
        self._lock = threading.Lock()

    def wait_s(self, address: str) -> float:
        """Seconds before `address` may try a password again (0: now)."""
        with self._lock:
            return self._wait(address, self._clock())

    def failed(self, address: str) -> float:
        """Count a refused attempt from `address`: a wrong password, or any password sent while it had to
        wait (so hammering makes the wait longer, and is never checked). Returns the wait it now has."""
        with self._lock:
            now = self._clock()
            failures = self._addresses.pop(address, None) or _Failures()
            for counted, limits in ((failures, self._per_address), (self._server, self._server_wide)):
                if now - counted.last > limits.forget_after_s:
                    counted.count = 0
                counted.count += 1
                counted.last = now
            self._addresses[address] = failures  # now the newest
            while len(self._addresses) > self._max_addresses:
                self._addresses.popitem(last=False)
            return self._wait(address, now)

    def succeeded(self, address: str) -> None:
        """The right password from `address`, in time: its own failures are forgotten (the server's are not)."""
        with self._lock:
            self._addresses.pop(address, None)

    def _wait(self, address: str, now: float) -> float:
        counts = ((self._addresses.get(address), self._per_address), (self._server, self._server_wide))
        waits = [
            counted.last + limits.wait_after(counted.count) - now
            for counted, limits in counts
            if counted is not None and now - counted.last <= limits.forget_after_s
        ]
        return max([0.0, *waits])
