"""The one skeleton of a server-side job manager (turn jobs in conversations/jobs.py, experiment runs in
experiments/jobs.py): jobs belong to the server process, not to the browser session that started them, so a
rerun, a reload or a second tab finds them again by key, and finished ones stay a while for pages that come
back for their outcome."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from ui.service.errors import USER_ERRORS

log = logging.getLogger(__name__)


class Job(Protocol):
    @property
    def done(self) -> bool: ...


J = TypeVar("J", bound=Job)


class BackgroundJobs(Generic[J]):
    """Jobs by key, oldest first, each run on a thread of its own; at most `keep_finished` finished ones are
    kept (the oldest go first) so a long-lived server does not grow without bound."""

    def __init__(self, *, keep_finished: int, thread_name: str, noun: str) -> None:
        self.keep_finished = keep_finished
        self._thread_name = thread_name  # prefix of each job's thread name, to tell them apart in a dump
        self._noun = noun  # what the log calls a job that failed
        self._jobs: dict[int, J] = {}
        self._lock = threading.Lock()

    def start(self, key: int, job: J, work: Callable[[], None], end: Callable[[str | None], None]) -> J:
        """Keep `job` under `key` (replacing one there) and run `work` on a new thread; `end` is then called
        once, with None or with what went wrong in the user's words, and must make the job `done`."""
        with self._lock:
            self._prune()
            self._jobs[key] = job

        def main() -> None:
            try:
                work()
            except USER_ERRORS as e:
                end(str(e))
            except Exception as e:  # noqa: BLE001 - a bug must not kill the server thread silently
                log.exception("%s %s failed", self._noun, key)
                end(f"{type(e).__name__}: {e}")
            else:
                end(None)

        threading.Thread(target=main, name=f"{self._thread_name}-{key}", daemon=True).start()
        return job

    def get(self, key: int) -> J | None:
        with self._lock:
            return self._jobs.get(key)

    def jobs(self) -> list[J]:
        """Every job kept, running or finished, oldest first: a copy, so callers filter it without the lock."""
        with self._lock:
            return list(self._jobs.values())

    def _prune(self) -> None:
        finished = [key for key, job in self._jobs.items() if job.done]
        for key in finished[: max(0, len(finished) - self.keep_finished)]:
            del self._jobs[key]
