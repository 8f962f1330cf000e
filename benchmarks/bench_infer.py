"""`clara infer` against a hand-written MONAI sliding-window script: same network and weights,
same roi, overlap and window batch, same pre- and post-processing, on a phantom CT of
512 x 512 x 100 voxels.

The reference is what a MONAI user writes: the spleen transforms, `torch.no_grad()`,
`sliding_window_inference` in fp32, `Invertd`, `SaveImaged`. `clara infer` runs the spleen
MMAR's config_inference.json (its pipeline and case runner, as the command does, less the
manifest), in fp32 (amp=false) and in bf16 (amp=true). Each run is its own process (fair
peak memory, fresh allocator), and the variants alternate over the rounds so that load from
other processes hits all alike. Prints the median time per case (load to written file) and
the ratio to the reference (issue 14's goal: <= 0.2x), peak RSS, and the Dice of each
segmentation against the phantom's label (a change of less than 0.005 allowed). `--cases N`
runs N cases per process (the phantom again) and also reports the median of the later ones,
what each further case of a datalist costs once imports, heap and kernels are in place.

`--breakdown` (runs the script and clara fp32) also prints where each case's time goes: read
(header and pre-transforms), network (its forward passes, timed around the network), stitch
(the rest of the sliding window: padding, window copies, averaging), post (post-transforms;
the script's Invertd and argmax) and write (clara: resampling onto the input grid; both:
the gzipped NIfTI), and what the network alone costs against the script's whole case.

`clara-bf16-fp32pool` is clara-bf16 with `bf16_pooling=false`: PyTorch's own autocast policy,
which runs 3D max pooling in fp32 (see clara_cli/engine/bf16_pooling.py).

Measured 2026-12-02 (second session) on the 2-vCPU Zen 5 with native bf16, `--rounds 2
--cases 3 --breakdown --variants clara-fp32 clara-bf16 clara-bf16-fp32pool` (the reference's
own seconds varied 21-31 s that day, so only ratios within one run compare):

    first case of a process      script  clara fp32  clara bf16  bf16, fp32 pooling
    read                           1.58        0.94        0.92        0.97
    network                       20.43        5.54        3.44        4.62
    post                           4.99        0.00        0.00        0.00
    write                          0.13        0.27        0.24        0.28
    case                           27.2         6.8         4.6         5.9
      ratio                                    0.25x       0.17x       0.22x
    later cases (median)           24.5         6.1         4.3         5.3
      ratio                                    0.25x       0.18x       0.22x
    peak MB                        3020        2475        2208        2492
    Dice change                                0.0019      0.0017      0.0016

and `--rounds 3 --cases 3 --variants clara-bf16`: 3.9 s per first case against 25.5 s (0.15x;
fastest against fastest 0.18x), later cases 0.16x, peak 2265 MB against 3225 MB. The goal
(<= 0.2x, less memory, Dice change < 0.005) is met by bf16, first case included; fp32 is at
0.22-0.25x. What moved it: PyTorch's CPU autocast runs max_pool3d in fp32, so every
BatchNorm, ReLU and cat after AHNet's poolings worked on fp32 activations (330 M fp32 values
per pass of 2 windows) and each convolution cast them back; keeping the pooling in bf16 (its
output values are the same) took the network from 4.4-4.6 s to 3.4 s per case.

Tried and dropped in that session, with clara's allocator setting (clara_cli/allocator.py; a
stand-alone script without it pays page faults that make every variant look different):
an AOTInductor package (`torch._inductor.aoti_compile_and_package`, freezing, channels-last,
bf16 autocast compiled in; 50-80 s to compile): 0.47-0.56 s per pass of 2 windows against
eager's 0.40-0.44 s, and the same in a whole case (network 4.5 s against 4.0 s); a MONAI UNet
16-256 likewise (0.10 against 0.085 s); its channels-last code was also wrong at batch 1 for
a UNet with InstanceNorm (max difference 6.9 on logits of 7, caught by the parity check).
Folding the BatchNorms that only read a convolution's output into it (63 of AHNet's 119,
found generically from a watched forward pass): no gain in fp32 or bf16 (0.45-0.52 s per pass
either way). Keeping autocast's weight-cast cache across passes: the cache is not used under
inference_mode (the 169 casts per pass stayed); with bf16 pooling, all casts together are 2 %
of a pass.

Measured earlier on 2026-12-02, before bf16 pooling (`--rounds 2 --cases 3 --breakdown
--variants clara-fp32 clara-bf16`): first case script 22.9 s, clara fp32 5.5 s (0.24x), bf16
4.4 s (0.19x); later cases 22.0, 4.9 (0.22x) and 3.9 s (0.18x); peak 3035, 2394 and 2362 MB.
Over six runs that day bf16's first case came out at 0.18-0.22x: a fresh process pays its heap
growth and oneDNN's kernel generation in the first case (read 0.74-0.86 s against 0.45 s
later). Reading NIfTI in C order
(clara_cli/io/nibabel_reader.py) took 0.25-0.3 s off the read; what is left of it is zlib
(0.2 s; python-isal would take 0.08 s off, not worth a dependency), Spacingd in float64
(0.13-0.2 s, the config's own numerics) and first-touch page faults. Tried and dropped on this
machine: reading the next case in a background thread while the network runs (no gain on 2
cores: 4.4-4.7 s per case either way, the read competes with the forward), transparent huge
pages for the heap (slower: 5.3-5.8 s, zeroing and compaction at first touch), prepacked
oneDNN weights (identical output, no gain).

Measured 2026-12-01 (`--breakdown --rounds 1`, one case per process), before the C-order
read: script 22.2 s per case, clara fp32 5.9-6.6 s (0.26-0.30x), clara bf16 4.8-4.9 s
(0.22x); bf16's forward alone 0.16x. 1, 2 (the default) or 4 windows per pass gave 5.1, 4.8
and 5.4 s per case (2.0, 2.5 and 3.2 GB).

Measured earlier on 2 AVX2 cores without native bf16, shared with other jobs (so the seconds are
indicative and only the ratios of one run compare):

    stage        script  clara fp32
    read            8.5         4.0   LoadImaged 2.0, Spacingd 1.2, the rest 0.4 (alone)
    network       133.7        62.8
    stitch          0.8         0.6
    post           11.4         0.1   script: Invertd (linear, 2 channels, 512x512x100)
    write           0.4         1.2   clara: SimpleITK resample of one channel, then gzip
    case          154.8        68.6   0.44x (earlier runs 0.31-0.35x); peak 3006 / 2303 MB

The network's forward alone is 0.41x the script's whole case, so the 0.2x goal cannot be met
by work around the network: all of clara's other stages together are 5.8 s (0.04x). Inside
the forward (torch.profiler, 2 windows of 96^3, channels-last, fp32): convolutions 52 %,
BatchNorm 20 %, max-pooling 9 %, cat 7 %, ReLU 6 %, adds 4 %. The script's forward takes
2.1x clara's (4 windows at once in the default memory format, against 2 channels-last).
Tried and dropped: TorchScript freeze (folds 63 of AHNet's 119 BatchNorms; the other 56 come
after a cat or a pooling): no gain in an interleaved check (64^3, 3.2-5.0 s eager against
3.4-3.5 s frozen per pass), slower in a whole case (network 78.3 s against 62.8 s) after
14 s of scripting. Already as they should be: torch's 2 intra-op threads on 2 cores,
`torch.inference_mode`, oneDNN convolutions (mkldnn_convolution in the profile), constant
blending (the stitching is 0.6 s). bf16 was emulated on that CPU (no avx512_bf16 or AMX).
Labels at the model's resolution by default (`labels_first`) would save at most the write
stage and moved the Dice by 0.012 on a 0.88 mm phantom (README), above the 0.005 allowed.

The weights come from --ckpt, else from a short `clara train` run on 256 x 256 phantoms of the
same anatomy (a few minutes; kept under --work for the next run).

    .venv/bin/python benchmarks/bench_infer.py [--work DIR] [--ckpt model.pt] [--rounds 2]
        [--cases 3] [--breakdown] [--variants reference clara-fp32 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
MMAR = REPO / "mmars" / "clara_pt_spleen_ct_segmentation"
VARIANTS = ("reference", "clara-fp32", "clara-bf16", "clara-bf16-fp32pool")
DEFAULT_VARIANTS = VARIANTS[:3]
BREAKDOWN_VARIANTS = ("reference", "clara-fp32")
#: Where a case's time goes (see --breakdown): header and pre-transforms, the network's
#: forward passes, the rest of the sliding window (padding, stitching, averaging), the
#: post-transforms (softmax; the script's Invertd and argmax), resampling and writing.
STAGES = ("read", "network", "stitch", "post", "write")
# A CPU-sized variant of the MMAR's recipe (1 mm / 160^3 would take minutes per case here).
PIXDIM = [2.0, 2.0, 2.0]
ROI = [96, 96, 96]
SW_BATCH = 4
OVERLAP = 0.5


def make_phantom(folder: Path) -> tuple[Path, Path]:
    """A 512 x 512 x 100 phantom CT (0.7-0.9 mm in-plane, 2.5 mm slices) and its label."""
    from clara_cli.families.spleen.phantom import PhantomOptions, make_spleen_phantom
    from clara_cli.io.image import write_image

    image_path, label_path = folder / "ct.nii.gz", folder / "ct_label.nii.gz"
    if not image_path.is_file():
        options = PhantomOptions(
            in_plane_size=512, z_extent_mm=(250.0, 250.0), slice_spacing_mm=(2.5, 2.5)
        )
        image, label = make_spleen_phantom(seed=7, options=options)
        write_image(image, image_path)
        write_image(label, label_path)
    return image_path, label_path


def train_checkpoint(work: Path) -> Path:
    """Train the MMAR briefly on phantoms with the big phantom's field of view (~410 mm)."""
    from clara_cli.families.spleen.phantom import PhantomOptions, synthesize_spleen

    ckpt = work / "models" / "model.pt"
    if ckpt.is_file():
        return ckpt
    data = work / "train_data"
    options = PhantomOptions(
        in_plane_size=256,
        z_extent_mm=(230.0, 270.0),
        in_plane_spacing_mm=(1.4, 1.8),
        slice_spacing_mm=(2.5, 5.0),
    )
    synthesize_spleen(data, num_cases=8, seed=3, options=options, overwrite=True)
    settings = {
        "DATA_ROOT": data,
        "DATASET_JSON": data / "dataset_0.json",
        "MMAR_CKPT_DIR": ckpt.parent,
        "epochs": 16,
        "num_interval_per_valid": 4,
        "patch_size": [64, 64, 64],
        "roi_size": ROI,
        "pixdim": PIXDIM,
        "learning_rate": 2e-3,
        "num_samples": 2,
        "amp": False,
        "num_workers": 2,
    }
    print(
        f"training {ckpt}: 16 epochs on 6 phantoms, 10-25 min on 2 cores (--ckpt skips it)",
        flush=True,
    )
    subprocess.run([_clara(), "train", "-m", str(MMAR), "--set", *_pairs(settings)], check=True)
    return ckpt


class ForwardTimer:
    """Wraps a network and adds up the seconds of its forward passes."""

    def __init__(self, network: Any) -> None:
        self.network = network
        self.seconds = 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.network(*args, **kwargs)
        finally:
            self.seconds += time.perf_counter() - start


def run_reference(
    ckpt: Path, image: Path, out: Path, sw_batch: int, cases: int = 1
) -> list[dict[str, Any]]:
    """The hand-written script: what a MONAI user would write for this MMAR, run on `cases`
    cases (the same file each time) after loading the network once.

    Its stages are timed on the way (the post-transforms one by one, as Compose runs them).
    """
    import torch
    from monai.inferers import sliding_window_inference
    from monai.networks.nets import AHNet
    from monai.transforms import (
        Activationsd,
        AsDiscreted,
        Compose,
        CropForegroundd,
        EnsureChannelFirstd,
        EnsureTyped,
        Invertd,
        LoadImaged,
        Orientationd,
        SaveImaged,
        ScaleIntensityRanged,
        Spacingd,
    )

    checkpoint = torch.load(ckpt, map_location="cpu", weights_only=True)
    network = AHNet(**checkpoint["train_conf"]["train"]["model"]["args"])
    network.load_state_dict(checkpoint["model"])
    network.eval()
    pre = Compose(
        [
            LoadImaged("image"),
            EnsureChannelFirstd("image"),
            Orientationd("image", axcodes="RAS"),
            Spacingd("image", pixdim=PIXDIM, mode="bilinear"),
            ScaleIntensityRanged("image", a_min=-57, a_max=164, b_min=0.0, b_max=1.0, clip=True),
            CropForegroundd("image", source_key="image", allow_smaller=True),
            EnsureTyped("image"),
        ]
    )
    post = Compose(
        [
            Activationsd("pred", softmax=True),
            Invertd("pred", transform=pre, orig_keys="image", nearest_interp=False),
            AsDiscreted("pred", argmax=True),
        ]
    )
    save = Compose(
        [
            SaveImaged(
                "pred",
                output_dir=str(out),
                output_postfix="seg",
                output_dtype="uint8",
                separate_folder=False,
                resample=False,
                print_log=False,
            ),
        ]
    )
    results = []
    for _ in range(cases):
        timed = ForwardTimer(network)
        start = time.perf_counter()
        data = pre({"image": str(image)})
        read = time.perf_counter()
        with torch.no_grad():
            data["pred"] = sliding_window_inference(
                data["image"][None], ROI, sw_batch, timed, overlap=OVERLAP
            )[0]
        predicted = time.perf_counter()
        data = post(data)
        posted = time.perf_counter()
        save(data)
        end = time.perf_counter()
        stages = {"read": read - start, "network": timed.seconds}
        stages.update(stitch=predicted - read - timed.seconds, post=posted - predicted)
        stages["write"] = end - posted
        results.append({"case_seconds": end - start, "stages": stages})
    return results


def run_clara(
    ckpt: Path,
    image: Path,
    out: Path,
    sw_batch: int,
    bf16: bool,
    windows_per_pass: int = -1,
    cases: int = 1,
    bf16_pooling: bool = True,
) -> tuple[list[dict[str, Any]], float]:
    """`clara infer`'s pipeline and case runner (what the command runs for each case, less
    its manifest) on `cases` cases, with the network's forward passes timed; and the seconds
    the pipeline took to build."""
    from clara_cli.engine.inference import run_case
    from clara_cli.workflows.infer import inference_pipeline
    from clara_cli.workflows.session import RunRequest, open_session

    overrides = {
        "MMAR_CKPT": str(ckpt),
        "MMAR_EVAL_OUTPUT_PATH": str(out),
        "dont_load_ts_model": True,
        "dont_load_ckpt_model": False,
        "pixdim": PIXDIM,
        "roi_size": ROI,
        "sw_batch_size": sw_batch,
        "amp": bf16,
        "bf16_pooling": bf16_pooling,
    }
    if windows_per_pass >= 0:
        overrides["windows_per_pass"] = windows_per_pass
    request = RunRequest(MMAR, "config/config_inference.json", overrides=overrides, device="cpu")
    session = open_session(request)
    start = time.perf_counter()
    pipeline = inference_pipeline(session)
    built = time.perf_counter() - start
    member = pipeline.members[0]
    network = member.network
    results = []
    for _ in range(cases):
        member.network = timed = ForwardTimer(network)
        case = run_case(pipeline, "ct", str(image), str(image), out, probabilities=False)
        if case.error:
            raise SystemExit(case.error)
        stages = dict(case.stages)
        stages["network"] = timed.seconds
        stages["stitch"] = stages.pop("predict") - timed.seconds
        results.append({"case_seconds": case.seconds, "stages": stages})
    return results, built


def summarise(cases: list[dict[str, Any]]) -> dict[str, Any]:
    """The first case (`case_seconds`, `stages`: a fresh process) and, from two cases on, the
    median of the later ones (`warm_seconds`, `warm_stages`: what each further case of a
    datalist costs)."""
    summary = dict(cases[0])
    later = cases[1:]
    if later:
        summary["warm_seconds"] = statistics.median(c["case_seconds"] for c in later)
        summary["warm_stages"] = {
            k: statistics.median(c["stages"][k] for c in later) for k in cases[0]["stages"]
        }
    return summary


def child_main(
    variant: str,
    ckpt: Path,
    image: Path,
    out: Path,
    sw_batch: int,
    windows_per_pass: int = -1,
    cases: int = 1,
) -> None:
    """One measured run in this process; prints its result as JSON on the last line."""
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("clara").setLevel(logging.ERROR)
    start = time.perf_counter()
    if variant == "reference":
        result = summarise(run_reference(ckpt, image, out, sw_batch, cases))
    else:
        bf16 = variant.startswith("clara-bf16")
        pooling = variant != "clara-bf16-fp32pool"
        ran, built = run_clara(ckpt, image, out, sw_batch, bf16, windows_per_pass, cases, pooling)
        result = summarise(ran)
        result["build_seconds"] = built
    result["total_seconds"] = time.perf_counter() - start
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(
    variant: str,
    ckpt: Path,
    image: Path,
    out: Path,
    sw_batch: int,
    windows_per_pass: int,
    cases: int = 1,
) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", variant, "--ckpt", str(ckpt)]
    args += ["--sw-batch", str(sw_batch), "--windows-per-pass", str(windows_per_pass)]
    args += ["--cases", str(cases)]
    args += ["--image", str(image), "--out", str(out)]
    done = subprocess.run(args, check=True, capture_output=True, encoding="utf-8", errors="replace")
    return json.loads(done.stdout.strip().splitlines()[-1])


def dice(seg: Path, label: Path) -> float:
    import numpy as np
    import SimpleITK as sitk

    pred = sitk.GetArrayFromImage(sitk.ReadImage(str(seg))) > 0
    truth = sitk.GetArrayFromImage(sitk.ReadImage(str(label))) > 0
    if pred.shape != truth.shape:
        raise SystemExit(f"{seg}: shape {pred.shape} differs from the label's {truth.shape}")
    return float(2 * np.count_nonzero(pred & truth) / (pred.sum() + truth.sum()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, help="Folder to keep data and weights in.")
    parser.add_argument("--ckpt", type=Path, help="A spleen MMAR checkpoint (with train_conf).")
    parser.add_argument("--rounds", type=int, default=3, help="Runs of each variant.")
    parser.add_argument(
        "--sw-batch", type=int, default=SW_BATCH, help="Windows per forward pass (both sides)."
    )
    parser.add_argument(
        "--windows-per-pass",
        type=int,
        default=-1,
        help="clara's windows per forward pass (0: sw_batch at once, -1: clara's default).",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=VARIANTS,
        help=f"What to run (default {' '.join(DEFAULT_VARIANTS)}).",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="Also print where each case's time goes (stages, network vs the rest); "
        f"runs {' '.join(BREAKDOWN_VARIANTS)} unless --variants says.",
    )
    parser.add_argument(
        "--cases",
        type=int,
        default=1,
        help="Cases per process (the phantom again): from 2 on, also the median seconds of "
        "the later cases (warm: heap, caches and imports in place, as in a datalist run).",
    )
    parser.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--image", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(
            args.child,
            args.ckpt,
            args.image,
            args.out,
            args.sw_batch,
            args.windows_per_pass,
            args.cases,
        )
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="bench_infer_"))
    work.mkdir(parents=True, exist_ok=True)
    image, label = make_phantom(work)
    ckpt = args.ckpt or train_checkpoint(work)
    print(
        f"phantom {image}, weights {ckpt}; pixdim {PIXDIM}, roi {ROI}, overlap {OVERLAP}, "
        f"sw_batch {args.sw_batch}, clara windows per pass {args.windows_per_pass}; "
        f"{os.cpu_count()} CPU(s)",
        flush=True,
    )
    variants = tuple(args.variants or (BREAKDOWN_VARIANTS if args.breakdown else DEFAULT_VARIANTS))
    if "reference" not in variants:
        variants = ("reference", *variants)  # the ratios need it
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    for round_index in range(args.rounds):
        # Rotate the order so that no variant always runs first (cold caches) or last.
        shift = round_index % len(variants)
        order = variants[shift:] + variants[:shift]
        for variant in order:
            out = work / "out" / variant
            result = measure(
                variant, ckpt, image, out, args.sw_batch, args.windows_per_pass, args.cases
            )
            result["dice"] = dice(out / "ct_seg.nii.gz", label)
            runs[variant].append(result)
            warm = f", later {result['warm_seconds']:.1f}" if "warm_seconds" in result else ""
            print(
                f"  round {round_index + 1} {variant:<19} {result['case_seconds']:6.1f} s/case"
                f"{warm}  {result['peak_rss_mb']:6.0f} MB  Dice {result['dice']:.4f}",
                flush=True,
            )
    report(runs)
    if args.breakdown:
        report_breakdown(runs)


def report(runs: dict[str, list[dict[str, Any]]]) -> None:
    variants = list(runs)
    median = {v: statistics.median(r["case_seconds"] for r in runs[v]) for v in variants}
    fastest = {v: min(r["case_seconds"] for r in runs[v]) for v in variants}
    total = {v: statistics.median(r["total_seconds"] for r in runs[v]) for v in variants}
    peak = {v: max(r["peak_rss_mb"] for r in runs[v]) for v in variants}
    dices = {v: runs[v][-1]["dice"] for v in variants}
    print("\nvariant              s/case  ratio    min s  ratio  process s  peak MB  Dice")
    for v in variants:
        print(
            f"{v:<19} {median[v]:7.1f}  {median[v] / median['reference']:5.2f}x  "
            f"{fastest[v]:6.1f}  {fastest[v] / fastest['reference']:4.2f}x  "
            f"{total[v]:9.1f}  {peak[v]:7.0f}  {dices[v]:.4f}"
        )
    print("(s/case: load to written file, median over rounds; process s: with imports)")
    reference = median["reference"]
    for v in variants[1:]:
        change = abs(dices[v] - dices["reference"])
        print(
            f"{v} / hand-written script: {median[v] / reference:.2f}x (issue 14 goal <= 0.2x: "
            f"{'met' if median[v] <= 0.2 * reference else 'NOT met'}); Dice change "
            f"{change:.4f} ({'< 0.005' if change < 0.005 else 'NOT < 0.005'})"
        )
    if all("warm_seconds" in r for v in variants for r in runs[v]):
        warm = {v: statistics.median(r["warm_seconds"] for r in runs[v]) for v in variants}
        for v in variants[1:]:
            ratio = warm[v] / warm["reference"]
            print(
                f"{v} / hand-written script, later cases of a process: {warm[v]:.1f} s "
                f"against {warm['reference']:.1f} s, {ratio:.2f}x (goal <= 0.2x: "
                f"{'met' if ratio <= 0.2 else 'NOT met'})"
            )
    for v in variants[1:]:
        built = statistics.median(r["build_seconds"] for r in runs[v])
        print(f"{v}: network built and loaded in {built:.1f} s (once per run, not in s/case)")


def report_breakdown(runs: dict[str, list[dict[str, Any]]]) -> None:
    """Median seconds per stage, and the network's forward against the script's whole case;
    for the first case of a process and, with --cases 2 or more, for the later ones."""
    variants = list(runs)
    tables = [("stages", "case_seconds", "first case")]
    if all("warm_stages" in r for v in variants for r in runs[v]):
        tables.append(("warm_stages", "warm_seconds", "later cases"))
    for stages_key, seconds_key, label in tables:
        median = {
            v: {k: statistics.median(r[stages_key][k] for r in runs[v]) for k in STAGES}
            for v in variants
        }
        print(f"\n{label}: stage (median s)" + "".join(f"{v:>21}" for v in variants))
        for stage in STAGES:
            print(f"{stage:<28} " + "".join(f"{median[v][stage]:21.2f}" for v in variants))
        script = statistics.median(r[seconds_key] for r in runs["reference"])
        for v in variants[1:]:
            network = median[v]["network"]
            rest = sum(median[v].values()) - network
            print(
                f"{v}: network forward {network:.1f} s = {network / script:.2f}x the script's "
                f"case ({script:.1f} s), everything else {rest:.1f} s = {rest / script:.2f}x"
            )


def _clara() -> str:
    candidate = Path(sys.executable).with_name("clara")
    return str(candidate) if candidate.is_file() else "clara"


def _pairs(settings: dict[str, object]) -> list[str]:
    return [f"{k}={json.dumps(v) if isinstance(v, list) else v}" for k, v in settings.items()]


if __name__ == "__main__":
    main()
