"""`clara experiments run|status QUEUE.csv`: a queue of training runs over one MMAR."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from clara_cli.cli.errors import configure_logging
from clara_cli.cli.options import debug_option, device_option, launch_options, mmar_options
from clara_cli.cli.overrides import ClaraCommand, parse_overrides

_QUEUE = click.argument(
    "queue_path", metavar="QUEUE.csv", type=click.Path(dir_okay=False, path_type=Path)
)
_OUTPUT = click.option(
    "-o",
    "--output",
    "output_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder of the row folders and results tables [default: runs/<QUEUE name> in the MMAR].",
)


@click.group("experiments")
@debug_option
def command(debug: bool) -> None:
    """Run a queue of experiments (one training run per CSV row) and tabulate the results."""


@command.command("run", cls=ClaraCommand)
@_QUEUE
@mmar_options("config/config_train.json")
@click.option(
    "--validate-config",
    default="config/config_validation.json",
    show_default=True,
    help="Config that scores each row (its mean Dice is the row's metric).",
)
@click.option(
    "--no-validate",
    is_flag=True,
    help="Take each row's best validation metric from training instead.",
)
@click.option("--retry-failed", is_flag=True, help="Run rows that failed before again.")
@_OUTPUT
@device_option
@launch_options
def run(
    queue_path: Path,
    mmar_root: Path,
    config_path: str,
    env_path: str,
    overrides: tuple[str, ...],
    debug: bool,
    validate_config: str,
    no_validate: bool,
    retry_failed: bool,
    output_dir: Path | None,
    device: str,
    **launch: Any,
) -> None:
    """Train (and validate) one run per row of QUEUE.csv, in order, and tabulate the results.

    The header names config variables (model, encoder, n4, axis, epochs, ...); each row sets
    them with `--set` typing (empty cell: the config's value; `#` lines are comments). Each
    row gets its own folder (checkpoints, eval, clara.log, experiment.json). A second run
    skips finished rows and resumes an interrupted one from its last checkpoint; a failing
    row is recorded as failed and the queue goes on. After every row, results.csv and
    results.md (the study's layout, from results_layout.json beside QUEUE.csv) are rewritten.
    --set values apply to every row; --gpus N runs every row on N processes.

    \b
    Examples:
      clara experiments run mmars/cervical_spine_segmentation/experiments/pipeline.csv \\
          -m mmars/cervical_spine_segmentation --set DATA_ROOT=$PWD/data/cspine
      clara experiments run pipeline.csv -m MMAR --gpus 2
      clara experiments status pipeline.csv -m MMAR
    """
    configure_logging(debug)
    from clara_cli.families import run_for_archive
    from clara_cli.launch.jobs import LaunchOptions
    from clara_cli.report.experiment_tables import format_status
    from clara_cli.workflows.experiments import QueueOptions, read_queue, run_queue

    queue = read_queue(queue_path)
    options = QueueOptions(
        mmar_root=mmar_root,
        output_dir=_output_dir(output_dir, mmar_root, queue_path),
        train_config=config_path,
        validate_config=None if no_validate else validate_config,
        env_path=env_path,
        overrides=parse_overrides(overrides),
        device=device,
        launch=LaunchOptions(**launch),
        retry_failed=retry_failed,
        debug=debug,
        run_command=run_for_archive,
    )
    rows = run_queue(queue, options)
    click.echo(format_status(rows, queue.columns))
    click.echo(f"results: {options.output_dir / 'results.md'}")


@command.command("status")
@_QUEUE
@click.option(
    "-m",
    "--mmar",
    "mmar_root",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    show_default=True,
    help="The MMAR the queue runs on (for the default output folder).",
)
@_OUTPUT
@debug_option
def status(queue_path: Path, mmar_root: Path, output_dir: Path | None, debug: bool) -> None:
    """Show every row of QUEUE.csv with its status, metric and time."""
    from clara_cli.report.experiment_tables import format_status
    from clara_cli.workflows.experiments import queue_status, read_queue

    queue = read_queue(queue_path)
    folder = _output_dir(output_dir, mmar_root.resolve(), queue_path)
    click.echo(format_status(queue_status(queue, folder), queue.columns))
    click.echo(f"output: {folder}")


def _output_dir(output_dir: Path | None, mmar_root: Path, queue_path: Path) -> Path:
    return (output_dir or mmar_root / "runs" / queue_path.stem).resolve()
