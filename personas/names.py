"""The grammar of the names a user types: a library name (a mask, a suite, a scorer) and a lane, `MODEL[@MASK]`, or a
contrast lane `MODEL@MASK~OTHER[:GAMMA]` (MASK contrasted with OTHER, simulator.contrast), or a steered lane
`MODEL@MASK^DIRECTION:ALPHA[:FIRST-LAST]` (a persona direction added at strength ALPHA, simulator.steering).
A library name is also a file name, so it is checked before it becomes a path (`../x` never is one). A leaf:
personas, the service and the CLI all read lane specs and names by these patterns, and only by these."""

from __future__ import annotations

import re

__all__ = ["LANE_SPEC", "NAME", "NAME_PATTERN", "STEER", "is_name"]

_NAME_BODY = r"[a-z0-9][a-z0-9_.-]*"

NAME_PATTERN = rf"^{_NAME_BODY}$"  # as a string, for pydantic's Field(pattern=...)
NAME = re.compile(NAME_PATTERN)
# MODEL is anything without `@` or whitespace (a litellm string has slashes); MASK, OTHER and DIRECTION are library
# names; GAMMA, and a steered lane's `ALPHA[:FIRST-LAST]` (`steer`), are anything up to the end, so that a wrong one
# is named as a wrong γ or α rather than as an unreadable lane.
LANE_SPEC = re.compile(
    rf"^(?P<model>[^@\s]+)(?:@(?P<mask>{_NAME_BODY})"
    rf"(?:~(?P<contrast>{_NAME_BODY})(?::(?P<gamma>\S*))?|\^(?P<direction>{_NAME_BODY})(?::(?P<steer>\S*))?)?)?$"
)
# A steering as `--steer` takes it and a steered lane ends with it: DIRECTION:ALPHA[:FIRST-LAST] (or :LAYER).
STEER = re.compile(rf"^(?P<direction>{_NAME_BODY}):(?P<alpha>[^:\s]+)(?::(?P<first>\d+)(?:-(?P<last>\d+))?)?$")


def is_name(text: str) -> bool:
    """Whether `text` can name a mask or a suite (and so its file): lower-case letters, digits, `-`, `_`, `.`."""
    return NAME.fullmatch(text) is not None
