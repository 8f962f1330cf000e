"""`clara train`: run an MMAR's training workflow, in one process or N worker processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from clara_cli.cli.errors import configure_logging
from clara_cli.cli.options import device_option, launch_options, mmar_options, output_options
from clara_cli.cli.overrides import ClaraCommand, parse_overrides


@click.command("train", cls=ClaraCommand)
@mmar_options("config/config_train.json")
@output_options
@device_option
@launch_options
@click.option(
    "--resume",
    is_flag=True,
    help="Continue from the newest checkpoint in MMAR_CKPT_DIR (same epoch and iteration "
    "counters); starts from scratch, with a warning, when there is none.",
)
@click.option(
    "--compile",
    "compile_network",
    is_flag=True,
    help="Run the training network through torch.compile (same as --set compile=true): "
    "faster iterations after a compile of up to a minute; runs eagerly, with one warning, "
    "where compiling fails.",
)
@click.option(
    "--write-train-stats",
    "--write_train_stats",
    "write_train_stats",
    is_flag=True,
    help="Write MMAR_CKPT_DIR/train_stats.json at the end: training time, epochs, best key "
    "metric and its epoch (Clara's --write_train_stats).",
)
def command(
    mmar_root: Path,
    config_path: str,
    env_path: str,
    overrides: tuple[str, ...],
    debug: bool,
    device: str,
    resume: bool,
    compile_network: bool,
    write_train_stats: bool,
    **launch: Any,
) -> None:
    """Train the MMAR's model as config/config_train.json describes.

    Writes checkpoints (model.pt: best key metric; model_final.pt; the newest
    resume_checkpoint_epoch=N.pt), TensorBoard logs and train_curves.png under MMAR_CKPT_DIR.
    With --gpus N (or the config's multi_gpu: true) N processes train one DistributedDataParallel
    model, each on its own shard of the datalist; only rank 0 logs and writes files.

    \b
    Examples:
      clara train -m mmars/clara_pt_spleen_ct_segmentation
      clara train -m MMAR --set epochs=10 learning_rate=3e-4 DATA_ROOT=/data/spleen
      clara train -m MMAR --gpus 2                 # 2 GPUs, NCCL
      clara train -m MMAR --device cpu --nproc 2   # 2 CPU processes, gloo
      clara train -m MMAR --resume                 # after an interruption
      clara train -m MMAR --compile                # torch.compile the network
      clara train -m MMAR --set dont_load_ckpt_model=false MMAR_CKPT=models/model.pt  # finetune
    """
    configure_logging(debug)
    from clara_cli.families import run_for_archive
    from clara_cli.launch.jobs import LaunchOptions
    from clara_cli.workflows.session import RunRequest
    from clara_cli.workflows.train import TrainOptions

    variables = parse_overrides(overrides)
    if compile_network:
        variables["compile"] = True
    request = RunRequest(mmar_root, config_path, env_path, variables, device)
    result = run_for_archive(
        "train",
        request,
        TrainOptions(resume=resume, write_train_stats=write_train_stats),
        LaunchOptions(**launch),
        debug,
    )
    if result is None:  # not rank 0: rank 0 reports
        return
    if result.best_metric is not None:
        click.echo(
            f"done: {result.epochs_run} epochs; best {result.key_metric} "
            f"{result.best_metric:.4f} at epoch {result.best_epoch}; "
            f"checkpoints in {result.ckpt_dir}"
        )
    else:
        click.echo(f"done: {result.epochs_run} epochs; checkpoints in {result.ckpt_dir}")
