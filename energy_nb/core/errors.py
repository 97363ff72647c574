"""The error a user can fix: bad input, a missing file, a question the data cannot answer.

The command line prints a :class:`UserError` as one line (``energy-nb CMD: error: ...``) and exits with
status 2; any other exception is a bug and keeps its traceback. ``UserError`` is a ``ValueError``, so code
that catches ``ValueError`` keeps working. Every message names the value and what is allowed.
"""
from __future__ import annotations


class UserError(ValueError):
    """Input or a request the package refuses; the message says what was wrong and what is allowed."""
