# A token's stored form: entropy is an optional tail, so rows and files saved before it still read, and what is
# written reads back the same; surprisal is −ln p.

import math

import pytest
from pydantic import TypeAdapter

from simulator.values import Alternative, Token
from storage.exportfile import CompactToken


def _valid(item: list[object]) -> list[object]:
    return TypeAdapter(CompactToken).validate_python(item)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    "token",
    [
        Token(text="x"),
        Token(text=" Paris", p=0.8123, top=[Alternative(text=" Paris", p=0.8123), Alternative(text=" Lyon", p=0.1)]),
        Token(text=" Paris", p=0.8123, top=[Alternative(text=" Paris", p=0.8123)], entropy=0.7315),
        Token(text=" Paris", p=0.8123, top=[Alternative(text=" Paris", p=0.8123)], entropy=0.5, entropy_bound=True),
    ],
)
def test_compact_round_trip(token: Token) -> None:
    item = token.compact()
    assert _valid(item) == item
    assert Token.from_compact(item) == token


def test_old_rows_without_entropy_still_read() -> None:
    old = [" Paris", 0.8123, [[" Paris", 0.8123], [" Lyon", 0.1]]]
    token = Token.from_compact(_valid(old))
    assert token.entropy is None and not token.entropy_bound
    assert token.p == 0.8123 and [a.text for a in token.top] == [" Paris", " Lyon"]
    assert token.compact() == old  # an old row written back is unchanged
    assert Token.from_compact(_valid(["x", 0.5])).top == []


def test_entropy_is_stored_to_four_decimals_and_marked_when_a_bound() -> None:
    exact = Token(text="a", p=0.5, entropy=1.234567)
    assert exact.compact() == ["a", 0.5, [], 1.2346]
    assert Token(text="a", p=0.5, entropy=1.2, entropy_bound=True).compact() == ["a", 0.5, [], 1.2, "bound"]


def test_surprisal_is_minus_ln_p() -> None:
    assert Token(text="a", p=0.25).surprisal == pytest.approx(math.log(4))
    assert Token(text="a", p=1.0).surprisal == 0
    assert Token(text="a").surprisal is None
    assert math.isfinite(Token(text="a", p=0.0).surprisal or 0)  # a p rounded to 0 is very surprising, not infinite
