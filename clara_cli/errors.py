"""The library's exceptions: one base class, translated once into exit codes by the CLI."""

from __future__ import annotations


class ClaraError(Exception):
    """Base of every error meant for the user: the message says what, where and what to do."""


class ConfigError(ClaraError):
    """An MMAR configuration file is malformed or refers to something that does not exist."""


class OverrideError(ConfigError):
    """A `--set KEY=VALUE` names nothing the run reads, or gives a value of the wrong type
    (a usage error: exit 2, like click's own)."""


class ComponentError(ClaraError):
    """A config component cannot be found or constructed."""


class DataError(ClaraError):
    """Input images, labels or datalists are missing or unreadable."""


class DistributedError(ClaraError):
    """A distributed launch was misconfigured or one of its workers failed."""


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run; the message says how to continue it (exit code 130)."""


def interrupted(err: BaseException) -> bool:
    """Whether `err` is a Ctrl-C, or an error raised while one was being handled.

    Libraries turn a KeyboardInterrupt into their own errors (a worker pool, a save cut
    short): the interrupt then sits in the chain of causes and contexts.
    """
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def root_cause(err: BaseException) -> BaseException:
    """The innermost exception of a chain (MONAI and ignite wrap errors several times)."""
    seen: set[int] = set()
    while err.__cause__ is not None and id(err) not in seen:
        seen.add(id(err))
        err = err.__cause__
    return err


def clara_error_in(err: BaseException) -> ClaraError | None:
    """The outermost ClaraError in the chain of causes of `err` (itself included), or None.

    A ClaraError wrapping a library's error (a case's files named around a transform's
    failure) is found before the library's error it was raised from.
    """
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, ClaraError):
            return current
        seen.add(id(current))
        current = current.__cause__
    return None


def user_message(err: ClaraError) -> str:
    """The message of a ClaraError as raised, also when a DataLoader worker raised it.

    torch re-raises a worker's exception in the main process as the same type, with the
    worker's whole traceback as its message; the user's message is what follows the last
    `module.Type: ` line of that traceback.
    """
    text = str(err)
    if "Original Traceback (most recent call last):" not in text:
        return text
    marker = f"\n{type(err).__module__}.{type(err).__qualname__}: "
    at = text.rfind(marker)
    return text[at + len(marker) :].rstrip("\n") if at >= 0 else text


def first_line(err: BaseException) -> str:
    """The useful line of an exception's message, for a one-line report.

    SimpleITK/ITK messages span several lines of C++ context with the reason after
    ``ERROR:``; other messages give their first non-empty line. An empty message gives the
    exception's type name.
    """
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for line in lines:
        if "ERROR:" in line:
            return line.split("ERROR:", 1)[1].strip()
    return lines[0] if lines else type(err).__name__
