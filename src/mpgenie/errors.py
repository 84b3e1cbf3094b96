"""The one exception type for user mistakes.

Commands print a :class:`UsageError` as one ``error: ...`` line and exit with code 2. Anything else that escapes a
command is a bug and keeps its traceback, so an internal ``ValueError`` is never disguised as the user's fault.
This module imports nothing, so every layer (the pure world core included) can raise it.
"""

from __future__ import annotations


class UsageError(ValueError):
    """A mistake of the person or program calling us: a bad flag, config value, path or request.

    A ``ValueError`` subclass so that library callers that already catch ``ValueError`` keep working.
    """
