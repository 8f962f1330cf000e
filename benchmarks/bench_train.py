"""`clara train` iterations against a hand-written PyTorch loop on the same model, data and batch.

Both sides use the spleen MMAR's components, built once by clara's config engine from phantom
data: the same cached dataset and DataLoader, the same network initialisation, loss and
optimiser settings. The hand-written side is the textbook loop (zero_grad, forward, loss,
backward, step); the clara side is the MMAR's SupervisedTrainer with its post-transforms and
handlers (validation is pushed past the end of the run). Rounds alternate between the two so
that load from other processes hits both alike. Prints seconds per iteration and the ratio
(goal: clara / plain <= 1.05).

    python benchmarks/bench_train.py [--iterations 12] [--rounds 3]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MMAR = REPO / "mmars" / "clara_pt_spleen_ct_segmentation"
CPU_SIZED = {
    "patch_size": [32, 32, 32],
    "pixdim": [2.0, 2.0, 2.0],
    "num_samples": 4,
    "batch_size": 2,
    "amp": False,
    "num_workers": 2,
}


def build_trainer(data: Path, ckpt_dir: Path, iterations: int):
    from clara_cli.workflows.sections import build_sections
    from clara_cli.workflows.session import RunRequest, open_session

    overrides = {
        **CPU_SIZED,
        "DATA_ROOT": str(data),
        "DATASET_JSON": str(data / "dataset_0.json"),
        "MMAR_CKPT_DIR": str(ckpt_dir),
        "epochs": 1000,
        "num_interval_per_valid": 100000,
    }
    session = open_session(RunRequest(MMAR, "config/config_train.json", overrides=overrides))
    train, _ = build_sections(session, False)
    return train


def time_clara(section, iterations: int) -> list[float]:
    from ignite.engine import Events

    trainer = section.get("trainer")
    stamps: list[float] = []

    def stamp(engine) -> None:
        stamps.append(time.perf_counter())
        if len(stamps) > iterations:
            engine.terminate()

    handle = trainer.add_event_handler(Events.ITERATION_COMPLETED, stamp)
    stamps.append(time.perf_counter())
    trainer.run()
    handle.remove()
    return [b - a for a, b in zip(stamps[1:], stamps[2:], strict=False)]  # first step is warm-up


def time_plain(section, network, iterations: int) -> list[float]:
    import torch

    loader = section.get("dataloader")
    loss_fn = copy.deepcopy(section.get("loss"))
    lr = section.get("optimizer").param_groups[0]["lr"]
    optimizer = torch.optim.Adam(network.parameters(), lr=lr)
    network.train()
    stamps = [time.perf_counter()]
    while len(stamps) <= iterations:
        for batch in loader:
            image, label = batch["image"], batch["label"]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(network(image), label)
            loss.backward()
            optimizer.step()
            stamps.append(time.perf_counter())
            if len(stamps) > iterations:
                break
    return [b - a for a, b in zip(stamps[1:], stamps[2:], strict=False)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cases", type=int, default=8)
    args = parser.parse_args()

    from clara_cli.families.spleen.phantom import synthesize_spleen

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        synthesize_spleen(data, num_cases=args.cases, seed=0)
        section = build_trainer(data, Path(tmp) / "models", args.iterations)
        model = section.get("model")
        initial = copy.deepcopy(model.state_dict())
        plain_net = copy.deepcopy(model)
        clara_times: list[float] = []
        plain_times: list[float] = []
        for _ in range(args.rounds):
            model.load_state_dict(initial)
            clara_times += time_clara(section, args.iterations)
            plain_net.load_state_dict(initial)
            plain_times += time_plain(section, plain_net, args.iterations)

    clara_s = statistics.median(clara_times)
    plain_s = statistics.median(plain_times)
    print(
        f"spleen MMAR (AHNet), batch {CPU_SIZED['batch_size']}x{CPU_SIZED['num_samples']} of 32^3, fp32"
    )
    print(f"  clara train      {clara_s:.3f} s/it  (median of {len(clara_times)})")
    print(f"  plain PyTorch    {plain_s:.3f} s/it  (median of {len(plain_times)})")
    print(f"  ratio clara/plain {clara_s / plain_s:.3f}  (goal <= 1.05)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
