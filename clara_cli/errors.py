"""The library's exceptions: one base class, translated once into exit codes by the CLI."""

from __future__ import annotations


class ClaraError(Exception):
    """Base of every error meant for the user: the message says what, where and what to do."""


class ConfigError(ClaraError):
    """An MMAR configuration file is malformed or refers to something that does not exist."""


class ComponentError(ClaraError):
    """A config component cannot be found or constructed."""


class DataError(ClaraError):
    """Input images, labels or datalists are missing or unreadable."""


class DistributedError(ClaraError):
    """A distributed launch was misconfigured or one of its workers failed."""
