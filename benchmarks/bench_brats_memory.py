"""Peak memory of one BraTS training step at the model card's 224 x 224 x 144, 4 channels.

Each mode runs in a fresh process (a fair peak, a fresh allocator): the MMAR's own network
(mmars/clara_pt_brain_mri_segmentation, built from config_train.json, so SegResNet with
init_filters 16, or SegResNetVAE with ``--vae``), its Dice loss (+ 0.1 x the VAE loss), Adam,
batch 1, in fp32 and under CPU bf16 autocast. For each it prints:

- peak RSS of the process, and the step's share of it: peak RSS minus the RSS just before the
  first step (imports, weights and the input batch excluded);
- the bytes autograd saved in the network's forward pass for the backward pass (unique
  storages, counted with ``torch.autograd.graph.saved_tensors_hooks``): device-independent,
  this is the activation memory a GPU must hold too, on top of weights, gradients, Adam
  state, the loss's few output-sized maps and the framework's workspace.

The saved bytes of both modes are also traced without computing anything (the forward pass
under ``FakeTensorMode``: the same count as a real step, compare the two columns), so the bf16
figure is known at full size even where a real bf16 step is out of reach: on a CPU without
AVX512_BF16/AMX, oneDNN emulates bf16 and a step takes hours at this size. There the real
bf16 step runs only when asked for (``--modes fp32 bf16``).

Usage::

    .venv/bin/python benchmarks/bench_brats_memory.py                     # ~10 GB RAM, minutes
    .venv/bin/python benchmarks/bench_brats_memory.py --vae               # SegResNetVAE
    .venv/bin/python benchmarks/bench_brats_memory.py --size 112 112 72 --modes fp32 bf16
"""

from __future__ import annotations

import argparse
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


def _peak_rss_bytes() -> int:  # ru_maxrss is in KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _network(size: list[int], vae: bool):
    """The MMAR's train.model, with the variables a user would --set."""
    from clara_cli.engine.model_loading import build_network
    from clara_cli.workflows.session import RunRequest, open_session

    overrides = {"patch_size": size, "use_vae": vae, "DATA_ROOT": str(MMAR)}
    request = RunRequest(MMAR, "config/config_train.json", overrides=overrides, device="cpu")
    session = open_session(request)
    return build_network(session.conf, session, str(session.mmar.config_file))


class SavedBytes:
    """Counts the unique storages autograd saves for the backward pass (views once)."""

    def __init__(self) -> None:
        self.storages: dict[int, int] = {}

    def pack(self, tensor):  # type: ignore[no-untyped-def]
        storage = tensor.untyped_storage()
        self.storages[storage._cdata] = storage.nbytes()
        return tensor

    def hooks(self):  # type: ignore[no-untyped-def]
        import torch

        return torch.autograd.graph.saved_tensors_hooks(self.pack, lambda tensor: tensor)

    @property
    def gb(self) -> float:
        return sum(self.storages.values()) / _GB


def child_main(mode: str, size: list[int], vae: bool, steps: int) -> None:
    import torch
    from monai.losses import DiceLoss

    torch.manual_seed(0)
    network = _network(size, vae).train()
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)
    loss_function = DiceLoss(smooth_nr=0, smooth_dr=1e-5, squared_pred=True, sigmoid=True)
    image = torch.randn(1, 4, *size)
    label = (torch.rand(1, 3, *size) > 0.9).float()
    bf16 = mode == "bf16"

    rss_before = _rss_bytes()
    seconds = []
    for step in range(steps):
        saved = SavedBytes()
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        with saved.hooks(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
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
    peak = _peak_rss_bytes()
    weights = sum(p.numel() * p.element_size() for p in network.parameters())
    print(
        json.dumps(
            {
                "mode": mode,
                "peak_rss_gb": peak / _GB,
                "step_gb": (peak - rss_before) / _GB,
                "saved_for_backward_gb": saved.gb,
                "weights_gb": weights / _GB,
                "seconds_per_step": seconds[-1],
            }
        )
    )


def traced(size: list[int], vae: bool) -> dict[str, float]:
    """Saved-for-backward GB of the network's forward pass in each mode, on fake tensors."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    network = _network(size, vae).train()
    result = {}
    for mode in MODES:
        saved = SavedBytes()
        with FakeTensorMode(allow_non_fake_inputs=True), saved.hooks():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=mode == "bf16"):
                network(torch.empty(1, 4, *size))
        result[mode] = saved.gb
    return result


def measure(mode: str, size: list[int], vae: bool, steps: int) -> dict[str, float]:
    args = [sys.executable, __file__, "--child", mode, "--steps", str(steps), "--size"]
    args += [str(s) for s in size]
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
    parser.add_argument("--modes", nargs="+", choices=MODES, help="Real steps to run.")
    parser.add_argument("--steps", type=int, default=1, help="Steps per mode (peak of all).")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, args.size, args.vae, args.steps)
        return
    from clara_cli.engine.amp import cpu_has_native_bf16

    modes = args.modes or (MODES if cpu_has_native_bf16() else ("fp32",))
    network = "SegResNetVAE" if args.vae else "SegResNet"
    shape = " x ".join(map(str, args.size))
    print(f"{network}, batch 1 x 4 x {shape}, Dice loss, Adam, one process per mode")
    activations = traced(args.size, args.vae)
    print(
        "saved for backward, traced: "
        + ", ".join(f"{m} {gb:.2f} GB" for m, gb in activations.items())
        + f" (bf16 / fp32 {activations['bf16'] / activations['fp32']:.2f})"
    )
    if "bf16" not in modes:
        print("no real bf16 step: this CPU emulates bf16 (ask with --modes fp32 bf16)")
    print("mode   peak RSS GB   step GB   saved for backward GB   weights GB   s/step")
    for mode in modes:
        r = measure(mode, args.size, args.vae, args.steps)
        print(
            f"{mode:5}  {r['peak_rss_gb']:11.2f}  {r['step_gb']:8.2f}  "
            f"{r['saved_for_backward_gb']:22.2f}  {r['weights_gb']:11.3f}  "
            f"{r['seconds_per_step']:7.1f}"
        )


if __name__ == "__main__":
    main()
