"""Export formats side by side: time to export, time to load, inference seconds per case.

For one MONAI UNet (random weights) it exports a checkpoint, TorchScript, a torch.export
program (.pt2) and ONNX through clara's exporters (each export time includes clara's parity
check on one patch), loads each the way `clara validate`/`clara infer` do, and runs MONAI's
sliding-window inference over the same volume with each (fp32, sw_batch 1, overlap 0.25),
interleaving the formats so that load changes on a shared machine hit all alike. It prints
median seconds, the ratio to the checkpoint (above 1: slower than the checkpoint) and the
share of voxels whose label (argmax) agrees with the checkpoint's segmentation. One untimed
warm-up pass per format comes first.

Usage::

    .venv/bin/python benchmarks/bench_export.py --net tiny --size 64 --roi 32   # ~1 min
    .venv/bin/python benchmarks/bench_export.py --size 256 --roi 96 --repeats 3   # CT-sized
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.inferers import sliding_window_inference
from monai.networks.nets import UNet

NETS = {
    "tiny": {"channels": (4, 8), "strides": (2,), "num_res_units": 0},
    "spleen": {"channels": (16, 32, 64, 128, 256), "strides": (2, 2, 2, 2), "num_res_units": 2},
}


def _net(kind: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return UNet(spatial_dims=3, in_channels=1, out_channels=2, **NETS[kind]).eval()


def _timed(action: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def _export_all(kind: str, roi: int, folder: Path) -> dict[str, tuple[Path, float]]:
    from clara_cli.export.onnx import export_onnx
    from clara_cli.export.pt2 import export_pt2
    from clara_cli.export.torchscript import export_torchscript

    shape = [1, 1, roi, roi, roi]
    files: dict[str, tuple[Path, float]] = {}
    path = folder / "model.pt"
    _, seconds = _timed(lambda: torch.save({"model": _net(kind).state_dict()}, path))
    files["checkpoint"] = (path, seconds)
    for name, export, suffix in (
        ("torchscript", export_torchscript, ".ts"),
        ("pt2", export_pt2, ".pt2"),
        ("onnx", export_onnx, ".onnx"),
    ):
        result, seconds = _timed(lambda e=export, s=suffix: e(_net(kind), shape, folder / f"m{s}"))
        print(f"  {name}: exported in {seconds:.1f} s; {result.describe()}", flush=True)
        files[name] = (result.path, seconds)
    return files


def _loader(name: str, path: Path, kind: str) -> Callable[[], Callable[[torch.Tensor], Any]]:
    def load() -> Callable[[torch.Tensor], Any]:
        if name == "checkpoint":
            net = _net(kind)
            net.load_state_dict(torch.load(path, map_location="cpu")["model"])
            return net
        if name == "torchscript":
            return torch.jit.load(str(path), map_location="cpu").eval()
        if name == "pt2":
            from clara_cli.export.pt2 import load_pt2

            return load_pt2(path)
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return lambda x: torch.from_numpy(session.run(None, {"input": x.numpy()})[0])

    return load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--net", choices=sorted(NETS), default="spleen")
    parser.add_argument("--size", type=int, default=128, help="volume edge (voxels)")
    parser.add_argument("--roi", type=int, default=64, help="sliding-window and export patch")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; UNet '{args.net}', "
        f"volume {args.size}^3, window {args.roi}^3, sw_batch 1, overlap 0.25, fp32"
    )
    volume = torch.randn(1, 1, args.size, args.size, args.size, generator=torch.manual_seed(1))
    with tempfile.TemporaryDirectory() as temp:
        files = _export_all(args.net, args.roi, Path(temp))
        predictors, load_seconds = {}, {}
        for name, (path, _) in files.items():
            predictors[name], load_seconds[name] = _timed(_loader(name, path, args.net))
            print(f"  {name}: loaded in {load_seconds[name]:.2f} s", flush=True)
        times: dict[str, list[float]] = {name: [] for name in files}
        labels: dict[str, np.ndarray] = {}
        for repeat in range(-1, args.repeats):  # repeat -1: warm-up (TorchScript's profiling
            for name, predictor in predictors.items():  # executor optimises on early calls)
                with torch.inference_mode():
                    output, seconds = _timed(
                        lambda p=predictor: sliding_window_inference(
                            volume, (args.roi,) * 3, 1, p, overlap=0.25
                        )
                    )
                if repeat >= 0:
                    times[name].append(seconds)
                print(f"  {name}: {seconds:.3f} s per case", flush=True)
                labels[name] = output.argmax(1).numpy()
    base = statistics.median(times["checkpoint"])
    print(f"{'format':12} {'export s':>9} {'load s':>7} {'infer s/case':>13} {'ratio':>6} agree")
    for name in files:
        median = statistics.median(times[name])
        agree = float(np.mean(labels[name] == labels["checkpoint"])) * 100
        print(
            f"{name:12} {files[name][1]:9.2f} {load_seconds[name]:7.2f} {median:13.3f} "
            f"{median / base:6.2f} {agree:.4f} %"
        )


if __name__ == "__main__":
    main()
