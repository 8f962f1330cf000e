"""Peak memory of one BraTS training step at the model card's 224 x 224 x 144, 4 channels.

Each variant runs in a fresh process (a fair peak, a fresh allocator): the MMAR's own network
(mmars/clara_pt_brain_mri_segmentation, built from config_train.json, so SegResNet with
init_filters 16, or SegResNetVAE with ``--vae``), its Dice loss (+ 0.1 x the VAE loss), Adam,
batch 1, two steps (the first allocates Adam's state), in fp32 and under CPU bf16 autocast.
For each it prints:

- peak RSS of the process, and the step's share of it: peak RSS minus the RSS just before the
  first step (imports, weights and the input batch excluded);
- the bytes autograd saved for the backward pass (unique storages, measured with
  ``torch.autograd.graph.saved_tensors_hooks``): device-independent, this is the activation
  memory a GPU must hold too, on top of weights, gradients, Adam state and its workspace.

bf16 autocast runs on any CPU (emulated, slowly, without AVX512_BF16/AMX): memory, not speed,
is measured here.

Usage::

    .venv/bin/python benchmarks/bench_brats_memory.py               # SegResNet, ~5-15 min
    .venv/bin/python benchmarks/bench_brats_memory.py --vae         # SegResNetVAE
    .venv/bin/python benchmarks/bench_brats_memory.py --size 112 112 72   # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MMAR = REPO / "mmars" / "clara_pt_brain_mri_segmentation"
MODES = ("fp32", "bf16")
_GB = 1024**3


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _network(size: list[int], vae: bool):
    """The MMAR's train.model, with the variables a user would --set."""
    from clara_cli.engine.model_loading import build_network
    from clara_cli.workflows.session import RunRequest, open_session

    overrides = {"patch_size": size, "use_vae": vae, "DATA_ROOT": str(MMAR)}
    request = RunRequest(MMAR, "config/config_train.json", overrides=overrides, device="cpu")
    session = open_session(request)
    return build_network(session.conf, session, str(session.mmar.config_file))


def child_main(mode: str, size: list[int], vae: bool) -> None:
    import torch
    from monai.losses import DiceLoss

    torch.manual_seed(0)
    network = _network(size, vae).train()
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)
    loss_function = DiceLoss(smooth_nr=0, smooth_dr=1e-5, squared_pred=True, sigmoid=True)
    image = torch.randn(1, 4, *size)
    label = (torch.rand(1, 3, *size) > 0.9).float()
    autocast = (
        torch.autocast("cpu", dtype=torch.bfloat16) if mode == "bf16" else contextlib.nullcontext()
    )
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    rss_before = _rss_bytes()
    seconds = []
    for step in range(2):
        saved.clear()
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
            with autocast:
                output = network(image)
            logits, vae_loss = output if isinstance(output, tuple) else (output, None)
            loss = loss_function(logits.float(), label)
            if vae_loss is not None:
                loss = loss + 0.1 * vae_loss.float()
        loss.backward()
        optimizer.step()
        seconds.append(time.perf_counter() - start)
        if not torch.isfinite(loss):
            raise SystemExit(f"{mode}: the loss is not finite at step {step + 1}")
    weights = sum(p.numel() * p.element_size() for p in network.parameters())
    print(
        json.dumps(
            {
                "mode": mode,
                "peak_rss_gb": _peak_rss_bytes() / _GB,
                "step_gb": (_peak_rss_bytes() - rss_before) / _GB,
                "saved_for_backward_gb": sum(saved.values()) / _GB,
                "weights_gb": weights / _GB,
                "seconds_per_step": seconds[-1],
            }
        )
    )


def measure(mode: str, size: list[int], vae: bool) -> dict[str, float]:
    args = [sys.executable, __file__, "--child", mode, "--size", *map(str, size)]
    if vae:
        args.append("--vae")
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run(
        args, check=True, capture_output=True, encoding="utf-8", errors="replace", env=env
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, nargs=3, default=[224, 224, 144])
    parser.add_argument("--vae", action="store_true", help="SegResNetVAE (use_vae=true).")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, args.size, args.vae)
        return
    network = "SegResNetVAE" if args.vae else "SegResNet"
    print(f"{network}, batch 1 x 4 x {' x '.join(map(str, args.size))}, Adam, one process each")
    print("mode   peak RSS GB   step GB   saved for backward GB   weights GB   s/step")
    results = {}
    for mode in MODES:
        r = measure(mode, args.size, args.vae)
        results[mode] = r
        print(
            f"{mode:5}  {r['peak_rss_gb']:11.2f}  {r['step_gb']:8.2f}  "
            f"{r['saved_for_backward_gb']:22.2f}  {r['weights_gb']:11.3f}  "
            f"{r['seconds_per_step']:7.1f}"
        )
    ratio = results["bf16"]["step_gb"] / results["fp32"]["step_gb"]
    print(f"bf16 / fp32 step memory: {ratio:.2f}")


if __name__ == "__main__":
    main()
