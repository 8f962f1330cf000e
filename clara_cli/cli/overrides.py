"""Clara's command-line spellings: `--set a=1 b=2`, typed `--set` values, `-r 1 1 3`.

Only click is imported here: `clara --help` must not load torch, MONAI or SimpleITK.
"""

from __future__ import annotations

import json
import re
from typing import Any

import click


class ClaraCommand(click.Command):
    """A command that accepts Clara's `--set a=1 b=true` form as well as repeated `--set`.

    Clara's `medl.apps.*` took every K=V token after `--set`; click takes one value per
    option, so the tokens are rewritten to `--set a=1 --set b=true` before parsing.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return super().parse_args(ctx, expand_set_tokens(args))


def expand_set_tokens(args: list[str]) -> list[str]:
    """Rewrite `--set a=1 b=2` into `--set a=1 --set b=2`; other tokens are kept."""
    out: list[str] = []
    expecting_value = False  # the token right after `--set` is its value
    in_set_run = False  # later K=V tokens continue the run until an option appears
    for token in args:
        if expecting_value:
            out.append(token)
            expecting_value, in_set_run = False, True
        elif token == "--set":
            out.append(token)
            expecting_value = True
        elif token.startswith("--set="):
            out.append(token)
            in_set_run = True
        elif in_set_run and "=" in token and not token.startswith("-"):
            out.extend(["--set", token])
        else:
            in_set_run = False
            out.append(token)
    return out


_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def join_number_tokens(args: list[str], flags: tuple[str, ...]) -> list[str]:
    """Rewrite `-r 1 1 3` into `-r 1,1,3` for each flag in `flags`; other tokens are kept.

    click gives an option a fixed number of values; options like tlt-dataconvert's `-r` take
    one or three, so the numbers following the flag are joined into one token before parsing.
    """
    out: list[str] = []
    index = 0
    while index < len(args):
        token = args[index]
        out.append(token)
        index += 1
        if token in flags:
            numbers = []
            while index < len(args) and _NUMBER.match(args[index]):
                numbers.append(args[index])
                index += 1
            if numbers:
                out.append(",".join(numbers))
    return out


def numbers_command(*flags: str) -> type[click.Command]:
    """A click.Command class whose `flags` accept several numbers (`--pixdim 1 1 3`)."""

    class NumbersCommand(click.Command):
        def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
            return super().parse_args(ctx, join_number_tokens(args, flags))

    return NumbersCommand


def parse_set_value(text: str) -> Any:
    """Type a `--set` value as JSON when it parses (also Python's True/False/None), else string."""
    python_words = {"True": True, "False": False, "None": None}
    if text in python_words:
        return python_words[text]
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_overrides(pairs: tuple[str, ...]) -> dict[str, Any]:
    """Turn `("a=1", "b=x")` into `{"a": 1, "b": "x"}`; a token without `=` is a usage error."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"expected KEY=VALUE, not {pair!r}", param_hint="'--set'")
        overrides[key.strip()] = parse_set_value(value)
    return overrides
