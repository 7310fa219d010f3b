# The generic job manager on its own, with plain jobs: which finished jobs a long-lived server forgets, and that
# a job's end reaches it (a user's error in its own words, a bug with its type) so a page can still read it.

from __future__ import annotations

import threading
from collections.abc import Callable

from ui.service.background import BackgroundJobs
from ui.service.errors import ServiceError


class Plain:
    def __init__(self) -> None:
        self.done = False
        self.error: str | None = None
        self.ended = threading.Event()

    def end(self, error: str | None) -> None:
        self.error = error
        self.done = True
        self.ended.set()


def run(manager: BackgroundJobs[Plain], key: int, work: Callable[[], None] = lambda: None) -> Plain:
    job = Plain()
    manager.start(key, job, work, job.end)
    assert job.ended.wait(10)
    return job


def test_only_the_newest_finished_jobs_are_kept_and_a_running_one_never_goes() -> None:
    manager = BackgroundJobs[Plain](keep_finished=2, thread_name="test-job", noun="test job")
    release = threading.Event()
    running = Plain()

    def hold() -> None:
        release.wait(10)

    manager.start(0, running, hold, running.end)
    for key in range(1, 5):
        run(manager, key)
    manager.start(5, Plain(), lambda: None, lambda error: None)  # starting a job prunes
    assert [manager.get(key) is not None for key in range(6)] == [True, False, False, True, True, True]
    assert manager.jobs()[0] is running
    release.set()
    assert running.ended.wait(10)


def test_a_finished_job_is_still_found_with_how_it_ended() -> None:
    manager = BackgroundJobs[Plain](keep_finished=8, thread_name="test-job", noun="test job")

    def refused() -> None:
        raise ServiceError("the model is not loaded")

    def bug() -> None:
        raise KeyError("lane")

    fine, user, broken = run(manager, 1), run(manager, 2, refused), run(manager, 3, bug)
    assert [manager.get(key) for key in (1, 2, 3)] == [fine, user, broken]
    assert [fine.error, user.error, broken.error] == [None, "the model is not loaded", "KeyError: 'lane'"]
