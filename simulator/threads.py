"""How many threads a llama.cpp decode should use: the cores no other process is using, measured.

Why: llama.cpp splits each decode across its threads and waits for the slowest. When another process holds one of
two cores, a 2-thread decode waits on a thread that only runs part of the time: gemma-3-270m fell from 57-66 to
15 tokens/s with one busy process beside it, where 1 thread kept 40-42 (issue 22). A user's machine always has a
browser running. So, unless the user set `threads`, every decode runs with the cores other processes left free.

Measured, not guessed: the busy time of the CPUs this process may run on (/proc/stat) minus this process's own
CPU time, over the last half second or so, is how many cores other processes kept busy. Read lazily when a
decode asks and the last reading is older than that: no thread of its own, a few microseconds per token.
Where there is no /proc (macOS), the load average minus this process's own use stands in for it.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

INTERVAL = 0.5  # seconds between readings: a decode asks every token, the answer moves at this pace
# The first ask in a process has no earlier reading: it waits this long for one (ten scheduler ticks a core). After
# an idle spell the window is simply longer: an average of what others did meanwhile, with no wait before a turn's
# first token, and read again half a second later.
PROBE = 0.1
# Another process counts as holding a core once it keeps it busy this much, rather than half: the two mistakes cost
# unequally. A thread too many beside a busy process made decode 4x slower (15 against 57-66 tokens/s, issue 22);
# a thread too few on a free core costs about 1.5x (1 thread kept 40-42 tokens/s even beside a busy process).
BUSY = 0.4


@dataclass(frozen=True)
class Reading:
    at: float  # time.monotonic()
    busy: float | None  # CPU seconds the usable cores spent busy, everyone's (None: no /proc)
    own: float  # CPU seconds this process has used


def usable_cores() -> int:
    """The cores this process may run on: its affinity, capped by a cgroup CPU quota (a container's --cpus)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def _busy_seconds(cpus: set[int] | None) -> float | None:
    """Busy CPU seconds since boot of `cpus` (None: all), from /proc/stat; None where there is no /proc."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    ticks = 0
    for line in lines:
        if not line.startswith("cpu") or line.startswith("cpu "):
            continue
        name, *fields = line.split()
        if cpus is not None and int(name[3:]) not in cpus:
            continue
        # user nice system idle iowait irq softirq steal: all but idle and iowait kept the core from us
        values = [int(v) for v in fields[:8]]
        ticks += sum(values) - values[3] - values[4]
    return ticks / os.sysconf("SC_CLK_TCK")


class FreeCores:
    """One process-wide measure of the cores other processes leave free, re-read at most every INTERVAL."""

    def __init__(self) -> None:
        self.usable = usable_cores()
        try:
            self._cpus: set[int] | None = os.sched_getaffinity(0)
        except AttributeError:
            self._cpus = None
        self._lock = threading.Lock()
        self._last: Reading | None = None
        self._free = self.usable
        self.others = 0.0  # cores other processes kept busy over the last window

    def read(self) -> Reading:
        return Reading(at=time.monotonic(), busy=_busy_seconds(self._cpus), own=time.process_time())

    def count(self) -> int:
        """The cores free for this process's decodes now: at least 1, at most `usable`."""
        with self._lock:
            last = self._last
            now = time.monotonic()
            if last is not None and now - last.at < INTERVAL:
                return self._free
            if last is None:
                last = self.read()
                time.sleep(PROBE)
            self._last = reading = self.read()
            self._free = self._fit(last, reading)
            return self._free

    def _fit(self, before: Reading, after: Reading) -> int:
        window = after.at - before.at
        if window <= 0:
            return self._free
        own = (after.own - before.own) / window
        if after.busy is None or before.busy is None:  # no /proc: the load average counts this process too
            others = max(0.0, os.getloadavg()[0] - own)
        else:
            others = max(0.0, (after.busy - before.busy) / window - own)
        self.others = others
        held = math.floor(others + (1 - BUSY))  # a process at BUSY of a core or more holds it
        return max(1, min(self.usable, self.usable - held))


FREE = FreeCores()


def fit(ctx: object, fixed: int | None, applied: int) -> int:
    """Set llama.cpp context `ctx` (a `llama_context_p`) to `fixed` threads, or to the cores free now when the user
    set none, if that differs from `applied` (what it runs with); returns what it runs with now."""
    n = fixed or FREE.count()
    if n != applied:
        import llama_cpp

        llama_cpp.llama_set_n_threads(ctx, n, n)
    return n
