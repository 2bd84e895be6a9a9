"""Errors a user can cause, kept apart from bugs.

Anything the user can fix (a bad reference, an unreadable archive, a digest that
does not match) is raised as `InputError`; the CLI turns it into one line on
stderr and exit code 2. Every other exception is a bug and keeps its traceback.
"""

from __future__ import annotations


class InputError(Exception):
    """A problem with the user's input: reported as one line, exit code 2."""


class UnsupportedInput(InputError):
    """The input is well-formed but of a kind imgaudit does not read."""


class CorruptInput(InputError):
    """The input is damaged: truncated, bad JSON, digest mismatch, unsafe tar entry."""
