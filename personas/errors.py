# The personas package's one exception, in a module of its own so the parsers that guard every file
# (personas.bounded) can raise it without importing the Mask model that itself uses them.

from __future__ import annotations


class MaskError(Exception):
    """A mask that cannot be found, parsed or validated; the message names the file and field."""
