"""`clara train`: run an MMAR's training workflow."""

from __future__ import annotations

from pathlib import Path

import click

from clara_cli.cli.params import (
    ClaraCommand,
    configure_logging,
    device_option,
    mmar_options,
    parse_overrides,
    reports_errors,
)


@click.command("train", cls=ClaraCommand)
@mmar_options("config/config_train.json")
@device_option
@reports_errors
def command(
    mmar_root: Path,
    config_path: str,
    env_path: str,
    overrides: tuple[str, ...],
    debug: bool,
    device: str,
) -> None:
    """Train the MMAR's model as config/config_train.json describes.

    Writes checkpoints (model.pt: best key metric; model_final.pt), TensorBoard logs and
    train_curves.png under MMAR_CKPT_DIR.

    \b
    Examples:
      clara train -m mmars/clara_pt_spleen_ct_segmentation
      clara train -m MMAR --set epochs=10 learning_rate=3e-4 DATA_ROOT=/data/spleen
    """
    configure_logging(debug)
    from clara_cli.engine.session import RunRequest
    from clara_cli.engine.workflows import train

    request = RunRequest(mmar_root, config_path, env_path, parse_overrides(overrides), device)
    result = train(request)
    if result.best_metric is not None:
        click.echo(
            f"done: {result.epochs_run} epochs; best {result.key_metric} "
            f"{result.best_metric:.4f} at epoch {result.best_epoch}; checkpoints in {result.ckpt_dir}"
        )
    else:
        click.echo(f"done: {result.epochs_run} epochs; checkpoints in {result.ckpt_dir}")
