"""The README's examples stay true: every `clara` command it shows uses options that exist, and
the blocks marked `<!-- readme-test: run -->` run, CPU-sized, from a fresh folder."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from clara_cli.cli.main import cli

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
RUN_MARKER = "<!-- readme-test: run -->"
#: Appended to each runnable command so that it runs in seconds on a CPU (later values win).
CPU_SIZED: dict[str, list[str]] = {
    "synth": ["-n", "4", "--size", "32"],
    "train": [
        "--set",
        "epochs=1",
        "num_interval_per_valid=1",
        "pixdim=[4,4,4]",
        "patch_size=[32,32,32]",
        "roi_size=[32,32,32]",
        "ahnet_layers=[1,1,1,1]",
        "amp=false",
        "num_workers=0",
    ],
    "validate": ["--set", "pixdim=[4,4,4]", "roi_size=[32,32,32]", "amp=false"],
    "export": ["--set", "patch_size=[32,32,32]"],
    "infer": ["--set", "pixdim=[4,4,4]", "roi_size=[32,32,32]", "amp=false"],
}


def readme_blocks() -> list[tuple[bool, list[str]]]:
    """Each ```bash block of the README: (marked runnable, its commands one per line)."""
    text = README.read_text(encoding="utf-8")
    blocks = []
    for match in re.finditer(r"^```bash\n(.*?)^```", text, flags=re.S | re.M):
        before = text[: match.start()].rstrip().splitlines()
        runnable = bool(before) and before[-1].strip() == RUN_MARKER
        joined = match.group(1).replace("\\\n", " ")
        blocks.append((runnable, [line for line in joined.splitlines() if line.strip()]))
    return blocks


def clara_commands(runnable_only: bool = False) -> list[list[str]]:
    """The README's `clara ...` command lines as argument lists (comments dropped)."""
    found = []
    for runnable, lines in readme_blocks():
        if runnable_only and not runnable:
            continue
        for line in lines:
            tokens = shlex.split(line, comments=True)
            if tokens and tokens[0] == "clara":
                found.append(tokens[1:])
    return found


def _command_for(tokens: list[str]) -> tuple[click.Command, list[str]]:
    """The (sub)command the tokens name, and the tokens after its name."""
    command: click.Command = cli
    rest = list(tokens)
    ctx = click.Context(cli)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        sub = command.get_command(ctx, rest[0])
        assert sub is not None, f"README: `clara {' '.join(tokens)}`: no command {rest[0]!r}"
        command, rest = sub, rest[1:]
    return command, rest


def test_the_readme_has_runnable_and_other_examples():
    assert len(clara_commands()) >= 30
    runnable = clara_commands(runnable_only=True)
    assert {tokens[0] for tokens in runnable} >= {"synth", "train", "validate", "export", "infer"}


@pytest.mark.parametrize("tokens", clara_commands(), ids=lambda t: " ".join(t)[:60])
def test_every_readme_command_uses_options_that_exist(tokens):
    command, rest = _command_for(tokens)
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    known |= {"--help", "-h"}
    used = [t.split("=")[0] for t in rest if re.match(r"^--?[A-Za-z]", t)]
    unknown = [option for option in used if option not in known]
    assert not unknown, f"README: `clara {' '.join(tokens)}`: {command.name} has no {unknown}"


@pytest.mark.slow
def test_the_runnable_readme_examples_run(tmp_path, monkeypatch):
    """synth -> train -> validate -> export -> infer, as the README writes them."""
    (tmp_path / "mmars").mkdir()
    commands = clara_commands(runnable_only=True)
    for archive in {t[t.index("-m") + 1] for t in commands if "-m" in t}:
        shutil.copytree(REPO / archive, tmp_path / archive, ignore=_no_outputs)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    for tokens in commands:
        args = [t.replace("$PWD", str(tmp_path)) for t in tokens] + CPU_SIZED.get(tokens[0], [])
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, f"clara {shlex.join(args)}\n{result.output}"
    archive = tmp_path / "mmars" / "clara_pt_spleen_ct_segmentation"
    assert (archive / "models" / "model.pt").is_file()
    assert (archive / "eval" / "metrics_summary.json").is_file()
    assert (archive / "models" / "model.ts").is_file()
    assert (tmp_path / "out" / "spleen_01_seg.nii.gz").is_file()


def _no_outputs(folder: str, names: list[str]) -> list[str]:
    return [n for n in names if n in ("models", "eval", "data", "runs")]


def test_the_option_check_catches_a_renamed_option():
    with pytest.raises(AssertionError, match="has no \\['--gpu'\\]"):
        test_every_readme_command_uses_options_that_exist(["train", "-m", "MMAR", "--gpu", "2"])
    with pytest.raises(AssertionError, match="no command 'trian'"):
        test_every_readme_command_uses_options_that_exist(["trian", "-m", "MMAR"])
