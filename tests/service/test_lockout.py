# Wrong passwords back off per client address and across the server (issue 18): the waits the sign-in form
# enforces, read from the backoff on a clock the test moves, so a 5-minute wait takes no time.

from __future__ import annotations

from ui.service.lockout import PER_ADDRESS, SERVER_WIDE, SignInBackoff


class Clock:
    """A clock the test sets: the backoff's waits are checked without sleeping through them."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_address_waits_longer_after_each_wrong_password_up_to_the_cap() -> None:
    clock = Clock()
    backoff = SignInBackoff(clock=clock)
    waits = []
    for _ in range(14):
        assert backoff.wait_s("203.0.113.7") == 0  # each guess made once its wait is over
        waits.append(backoff.failed("203.0.113.7"))
        clock.now += waits[-1]
    assert waits[:5] == [0, 0, 1, 2, 4]  # three tries for a typo, then doubling
    assert waits[-1] == PER_ADDRESS.cap_s == 900
    assert backoff.wait_s("198.51.100.1") == 0  # another address is not slowed by this one (yet)


def test_sending_during_the_wait_counts_and_the_51st_attempt_in_a_minute_waits_at_least_30_s() -> None:
    clock = Clock()
    backoff = SignInBackoff(clock=clock)
    for _ in range(50):
        backoff.failed("203.0.113.7")
        clock.now += 1.0  # 50 attempts in 50 s
    assert backoff.wait_s("203.0.113.7") >= 30


def test_many_addresses_together_are_slowed_server_wide() -> None:
    clock = Clock()
    backoff = SignInBackoff(clock=clock)
    for n in range(50):  # each guess from a new address: none of them is slowed on its own
        backoff.failed(f"2001:db8::{n:x}")
        clock.now += 1.0
    assert backoff.wait_s("2001:db8::ffff") >= 30  # a 51st address waits all the same
    assert backoff.wait_s("2001:db8::ffff") <= SERVER_WIDE.cap_s


def test_the_right_password_after_the_wait_starts_the_address_over_and_quiet_forgets() -> None:
    clock = Clock()
    backoff = SignInBackoff(clock=clock)
    for _ in range(5):
        backoff.failed("203.0.113.7")
    wait = backoff.wait_s("203.0.113.7")
    assert wait == 4
    clock.now += wait
    assert backoff.wait_s("203.0.113.7") == 0
    backoff.succeeded("203.0.113.7")
    assert backoff.failed("203.0.113.7") == 0  # a typo after signing in costs nothing again

    for _ in range(5):
        backoff.failed("198.51.100.1")
    clock.now += PER_ADDRESS.forget_after_s + 1
    assert backoff.failed("198.51.100.1") == 0  # an hour without a wrong password starts the count over


def test_the_addresses_remembered_are_bounded() -> None:
    backoff = SignInBackoff(clock=Clock(), max_addresses=3)
    for n in range(3):
        for _ in range(4):
            backoff.failed(f"203.0.113.{n}")
    assert backoff.wait_s("203.0.113.0") > 0
    backoff.failed("198.51.100.9")  # a fourth address: the oldest is dropped
    # Only the server's count holds the forgotten address back now, less than its own did.
    assert 0 < backoff.wait_s("203.0.113.0") < backoff.wait_s("203.0.113.1")
