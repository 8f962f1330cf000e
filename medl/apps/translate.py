"""Clara 4.x's `medl.apps.*` command lines, translated into `clara` command lines.

Clara's flags and their `clara` equivalents:

- `-m MMAR_ROOT -c CONFIG -e ENV` and `--set K=V ...`: the same (`--set` parsed by clara's
  own parser, so the values are typed exactly as `clara train --set` types them);
- `--write_train_stats` (train): `--write-train-stats`;
- `--model_path P --output_path P --input_shape S` (export): `--set MMAR_CKPT=P
  MMAR_TORCHSCRIPT=P` and `--input-shape S`, with `--format torchscript` (what Clara wrote);
- `medl.apps.evaluate` runs `clara validate`, or `clara infer` for an inference config;
- `--local_rank N` / `--local-rank=N` (what `python -m torch.distributed.launch` passes):
  LOCAL_RANK in the environment, where clara reads a launched rank's place from;
- `--set use_gpu=false`: `--device cpu`;
- `--set print_conf=true`: the config with its variables substituted is printed first.

`print_conf` and `use_gpu` are read here and not handed on (clara refuses a `--set` key that
nothing reads).

Only the standard library is imported until the command runs.
"""

from __future__ import annotations

import os
from pathlib import Path

#: medl app → clara command (evaluate is decided per config).
COMMANDS = {"train": "train", "evaluate": "validate", "export": "export", "infer": "infer"}
_VALUE_FLAGS = {
    "--model_path": "MMAR_CKPT",
    "--output_path": "MMAR_TORCHSCRIPT",
}
_TRUE = {"true", "1", "yes"}
#: `--set` keys of Clara's scripts that medl reads itself (never handed to clara).
MEDL_KEYS = ("print_conf", "use_gpu")


def translate(app: str, argv: list[str], environ: dict[str, str] | None = None) -> list[str]:
    """The `clara` arguments for `python -m medl.apps.<app> <argv>`.

    Args:
        app: "train", "evaluate", "export" or "infer".
        argv: Clara's arguments.
        environ: where `--local_rank` is recorded as LOCAL_RANK (default: os.environ).

    Raises:
        ValueError: an unknown app.
    """
    from clara_cli.cli.overrides import expand_set_tokens

    if app not in COMMANDS:
        raise ValueError(f"no medl.apps.{app}: known are {', '.join(COMMANDS)}")
    environ = os.environ if environ is None else environ  # type: ignore[assignment]
    out: list[str] = []
    sets: list[str] = []
    tokens = list(argv)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        flag, eq, inline = token.partition("=")
        if flag in ("--local_rank", "--local-rank"):
            value = inline if eq else (tokens[i + 1] if i + 1 < len(tokens) else "0")
            i += 1 if eq else 2
            environ.setdefault("LOCAL_RANK", value)
            continue
        if flag == "--write_train_stats" and app == "train":
            out.append("--write-train-stats")
        elif flag in _VALUE_FLAGS and app == "export":
            value = inline if eq else tokens[i + 1]
            sets.append(f"{_VALUE_FLAGS[flag]}={value}")
            i += 1 if eq else 2
            continue
        elif flag == "--input_shape" and app == "export":
            out.extend(["--input-shape", inline if eq else tokens[i + 1]])
            i += 1 if eq else 2
            continue
        else:
            out.append(token)
        i += 1
    out, medl_values = _without_medl_keys(expand_set_tokens(out))
    if sets:
        out += [t for pair in sets for t in ("--set", pair)]
    if app == "export" and not any(t == "--format" or t.startswith("--format=") for t in out):
        # Clara's export wrote TorchScript at --output_path; clara's default is now `.pt2`.
        out += ["--format", "torchscript"]
    if str(medl_values.get("use_gpu", "")).lower() in ("false", "0", "no"):
        out += ["--device", "cpu"]
    command = COMMANDS[app]
    if app == "evaluate" and "infer" in Path(_option(out, "-c", "--config") or "").name:
        command = "infer"
    return [command, *out]


def main(app: str, argv: list[str]) -> int:
    """Run `python -m medl.apps.<app> <argv>` as `clara`; returns the exit status."""
    from clara_cli.cli.main import cli
    from clara_cli.cli.overrides import expand_set_tokens

    args = translate(app, argv)
    given = _set_values(expand_set_tokens(list(argv)))
    if str(given.get("print_conf", "")).lower() in _TRUE and _is_rank_zero():
        _print_config(args)
    try:
        cli.main(args=args, prog_name=f"python -m medl.apps.{app}", standalone_mode=True)
    except SystemExit as done:
        return int(done.code or 0) if not isinstance(done.code, str) else 1
    return 0


def _print_config(args: list[str]) -> None:
    """Clara's print_conf: the workflow config with its variables substituted."""
    import json

    import click

    from clara_cli.cli.overrides import parse_overrides
    from clara_cli.errors import ClaraError
    from clara_cli.mmar.loader import load_mmar_config
    from clara_cli.mmar.variables import substitute

    defaults = {
        "train": "config/config_train.json",
        "export": "config/config_train.json",
        "validate": "config/config_validation.json",
        "infer": "config/config_inference.json",
    }
    mmar_root = Path(_option(args, "-m", "--mmar") or ".")
    config = _option(args, "-c", "--config") or defaults[args[0]]
    env = _option(args, "-e", "--env") or "config/environment.json"
    pairs = tuple(args[i + 1] for i, t in enumerate(args[:-1]) if t == "--set")
    try:
        mmar = load_mmar_config(mmar_root, config, env, parse_overrides(pairs))
        conf = substitute(dict(mmar.config), mmar.variables, "", str(mmar.config_file))
        # Top-level variables show their value for this run (--set and environment.json win).
        conf.update({k: mmar.variables[k] for k in conf if k in mmar.variables})
    except (ClaraError, click.ClickException):
        return  # the command itself reports the error
    click.echo(json.dumps(conf, indent=2, default=str))


def _without_medl_keys(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """`args` without the `--set` pairs medl itself reads (MEDL_KEYS), and their values.

    clara refuses a `--set` key nothing reads; these are read here, not by clara.
    """
    kept: list[str] = []
    values: dict[str, str] = {}
    i = 0
    while i < len(args):
        if args[i] == "--set" and i + 1 < len(args):
            key, _, value = args[i + 1].partition("=")
            if key.strip() in MEDL_KEYS:
                values[key.strip()] = value
                i += 2
                continue
        kept.append(args[i])
        i += 1
    return kept, values


def _set_values(args: list[str]) -> dict[str, str]:
    values = {}
    for i, token in enumerate(args[:-1]):
        if token == "--set":
            key, _, value = args[i + 1].partition("=")
            values[key.strip()] = value
    return values


def _option(args: list[str], *names: str) -> str | None:
    found = None
    for i, token in enumerate(args):
        flag, eq, inline = token.partition("=")
        if flag in names:
            found = inline if eq else (args[i + 1] if i + 1 < len(args) else None)
    return found


def _is_rank_zero() -> bool:
    return os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")) == "0"
