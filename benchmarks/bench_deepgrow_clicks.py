"""DeepGrow training step with simulated clicks against one plain step of the same network.

Builds the DeepGrow MMAR's train section (clara's config engine, phantom data from
`clara synth abdomen` prepared with `clara prepare-dataset --deepgrow`) and times, on the same
batches and network:

- click step: the config's `iteration`, MONAI's `Interaction` (max_interactions forward passes
  with the click transforms after each, then the training step);
- plain step: the trainer's own iteration alone (forward, loss, backward, optimiser step);

and splits the click step into the network's forward passes for clicks, each click transform
(on CPU, per sample), the distance transforms inside them (scipy's distance_transform_cdt) and
the rest (decollating and collating the batch). Rounds alternate between the two so that load
from other processes hits both alike. Prints seconds per iteration, the ratio, and whether
the click loop costs no more than its forward passes + 10 % (the goal).

    python benchmarks/bench_deepgrow_clicks.py [--iterations 4] [--rounds 2] [--clicks 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MMAR = REPO / "mmars" / "clara_pt_deepgrow_3d_annotation"


class Timer:
    """Seconds spent per name, summed."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def wrap(self, name: str, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start

        return timed


def build(data: Path, ckpt_dir: Path, args: argparse.Namespace):
    from clara_cli.workflows.sections import build_sections
    from clara_cli.workflows.session import RunRequest, open_session

    overrides = {
        "DATA_ROOT": str(data),
        "DATASET_JSON": str(data / "dataset.json"),
        "MMAR_CKPT_DIR": str(ckpt_dir),
        "patch_size": args.patch,
        "features": args.features,
        "max_interactions": args.clicks,
        "batch_size": args.batch,
        "amp": False,
        "num_workers": 0,
        "epochs": 1000,
        "num_interval_per_valid": 100000,
    }
    request = RunRequest(MMAR, "config/config_train.json", overrides=overrides, device="cpu")
    train, _ = build_sections(open_session(request), False)
    return train


def instrument(trainer, interaction, timer: Timer) -> None:
    """Time the click forward passes, each click transform and the distance transforms."""
    import monai.apps.deepgrow.transforms as deepgrow
    import torch

    inferer = trainer.inferer

    def timed_inferer(inputs, network):
        name = "training forward" if torch.is_grad_enabled() else "click forward passes"
        return timer.wrap(name, inferer)(inputs, network)

    trainer.inferer = timed_inferer
    # Interaction ends with the trainer's own step: time it to know the click loop exactly.
    trainer._iteration = timer.wrap("training step", trainer._iteration)
    interaction.transforms.transforms = tuple(
        timer.wrap(f"transform {type(step).__name__}", step)
        for step in interaction.transforms.transforms
    )
    deepgrow.distance_transform_cdt = timer.wrap(
        "  of which distance_transform_cdt", deepgrow.distance_transform_cdt
    )


def run(args: argparse.Namespace) -> int:
    import torch

    from clara_cli.data.deepgrow import prepare_deepgrow
    from clara_cli.families.deepgrow.phantom import AbdomenOptions, synthesize_abdomen

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        options = AbdomenOptions(in_plane_size=args.size)
        synthesize_abdomen(root / "raw", num_cases=2, seed=0, options=options)
        prepare_deepgrow(root / "raw", root / "dg", pixdim=[1, 1, 3], train_fraction=0.5)
        train = build(root / "dg", root / "models", args)
        trainer = train.get("trainer")
        interaction = trainer._process_function
        plain = trainer._iteration  # before instrument() times it inside the click step
        trainer.state.device = torch.device("cpu")
        batches = [b for _, b in zip(range(args.iterations), train.get("dataloader"), strict=False)]
        timer = Timer()
        instrument(trainer, interaction, timer)
        interaction(trainer, batches[0])  # warm-up (allocator, oneDNN kernels)
        plain(trainer, batches[0])
        timer.seconds.clear()
        clicks_times, plain_times = [], []
        for _ in range(args.rounds):
            start = time.perf_counter()
            for batch in batches:
                interaction(trainer, dict(batch))
            clicks_times.append((time.perf_counter() - start) / len(batches))
            start = time.perf_counter()
            for batch in batches:
                plain(trainer, dict(batch))
            plain_times.append((time.perf_counter() - start) / len(batches))
    clicks_step, plain_step = statistics.median(clicks_times), statistics.median(plain_times)
    per_iteration = {k: v / (args.rounds * len(batches)) for k, v in timer.seconds.items()}
    forward = per_iteration.pop("click forward passes", 0.0)
    per_iteration.pop("training forward", None)
    inner_step = per_iteration.pop("training step", 0.0)
    transforms = sum(v for k, v in per_iteration.items() if k.startswith("transform"))
    loop = clicks_step - inner_step
    print(
        f"patch {args.patch}, features {args.features}, batch {args.batch}, {args.clicks} clicks, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(f"click step  {clicks_step:7.3f} s/it")
    print(f"plain step  {plain_step:7.3f} s/it   ratio {clicks_step / plain_step:.2f}")
    print(f"click loop (click step - its training step) {loop:7.3f} s/it, of which:")
    print(f"  {'click forward passes':<36} {forward:7.3f} s")
    for name, seconds in sorted(per_iteration.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<36} {seconds:7.3f} s")
    rest = loop - forward - transforms
    print(f"  {'rest (decollate, collate, copies)':<36} {rest:7.3f} s")
    ratio = loop / forward if forward else float("inf")
    goal = ratio <= 1.10
    print(
        f"click loop / its forward passes = {ratio:.2f} (goal <= 1.10: {'met' if goal else 'NOT met'})"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clicks", type=int, default=15)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--size", type=int, default=96, help="phantom in-plane voxels")
    parser.add_argument("--patch", type=int, nargs=3, default=[32, 64, 64])
    parser.add_argument("--features", type=int, nargs=6, default=[16, 32, 64, 128, 256, 16])
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
