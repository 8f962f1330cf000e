"""`python -m medl.apps.train|evaluate|export|infer`: Clara's command lines, as the archives'
own scripts write them, run by clara with the same meaning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clara_cli import families
from clara_cli.cli.overrides import parse_overrides
from medl.apps.translate import main, translate

REPO = Path(__file__).resolve().parents[2]
# What deepgrow_2D's commands/train.sh runs, with the user's extra options appended.
TRAIN_SH = [
    "-m", "/a/mmar", "-c", "config/config_train.json", "-e", "config/environment.json",
    "--write_train_stats", "--set", "print_conf=True", "epochs=100", "learning_rate=0.0001",
    "use_gpu=True", "multi_gpu=False", "dont_load_ckpt_model=False", "epochs=1",
]  # fmt: skip


def _sets(args: list[str]) -> dict:
    return parse_overrides(tuple(args[i + 1] for i, t in enumerate(args[:-1]) if t == "--set"))


def test_train_flags_become_clara_train_flags():
    args = translate("train", TRAIN_SH, environ={})
    assert args[0] == "train"
    assert args[1:7] == TRAIN_SH[:6]
    assert "--write-train-stats" in args and "--write_train_stats" not in args
    # --set is parsed by clara's own parser: the same typed values, the last one winning;
    # print_conf and use_gpu are medl's own (clara refuses keys nothing reads).
    given = parse_overrides(tuple(TRAIN_SH[TRAIN_SH.index("--set") + 1 :]))
    sets = _sets(args)
    assert sets == {k: v for k, v in given.items() if k not in ("print_conf", "use_gpu")}
    assert sets["epochs"] == 1 and sets["learning_rate"] == 0.0001
    assert sets["dont_load_ckpt_model"] is False and sets["multi_gpu"] is False
    assert "--device" not in args  # use_gpu=True: clara's default device choice


def test_torch_distributed_launch_local_rank_goes_to_the_environment():
    environ: dict[str, str] = {}
    args = translate("train", ["--local-rank=1", "-m", "/a"], environ=environ)
    assert environ == {"LOCAL_RANK": "1"} and args == ["train", "-m", "/a"]
    environ = {"LOCAL_RANK": "0"}  # torchrun's variable wins over the argument
    assert translate("train", ["--local_rank", "1", "-m", "/a"], environ=environ)[1:] == [
        "-m",
        "/a",
    ]
    assert environ == {"LOCAL_RANK": "0"}


def test_export_flags_set_the_checkpoint_the_output_and_the_shape():
    argv = [
        "-m", "/a", "-c", "config/config_train.json", "--model_path", "/a/models/model.pt",
        "--output_path=/a/models/model.ts", "--input_shape", "[1, 3, 512, 512]",
    ]  # fmt: skip
    args = translate("export", argv, environ={})
    assert args[0] == "export"
    assert args[args.index("--input-shape") + 1] == "[1, 3, 512, 512]"
    assert _sets(args) == {
        "MMAR_CKPT": "/a/models/model.pt",
        "MMAR_TORCHSCRIPT": "/a/models/model.ts",
    }
    assert args[args.index("--format") + 1] == "torchscript"  # what Clara's export wrote


@pytest.mark.parametrize(
    ("config", "command"),
    [("config/config_validation.json", "validate"), ("config/config_inference.json", "infer")],
)
def test_evaluate_validates_or_infers_as_the_config_says(config, command):
    assert translate("evaluate", ["-m", "/a", "-c", config], environ={})[0] == command


def test_use_gpu_false_runs_on_the_cpu():
    args = translate("train", ["--set", "use_gpu=False"], environ={})
    assert args[-2:] == ["--device", "cpu"]
    assert "--device" not in translate("train", ["--set", "use_gpu=True"], environ={})


def test_main_hands_the_request_to_clara(monkeypatch, tmp_path, capsys):
    mmar = tmp_path / "mmar"
    (mmar / "config").mkdir(parents=True)
    config = {"epochs": 100, "train": {"trainer": {"name": "SupervisedTrainer"}}}
    (mmar / "config" / "config_train.json").write_text(json.dumps(config), encoding="utf-8")
    calls = []
    monkeypatch.setattr(families, "run_for_archive", lambda *args: calls.append(args))
    argv = [*TRAIN_SH[2:], "-m", str(mmar)]
    assert main("train", argv) == 0
    command, request, options, *_ = calls[0]
    assert command == "train" and options.write_train_stats and not options.resume
    assert request.mmar_root == mmar and request.overrides["epochs"] == 1
    printed = json.loads(capsys.readouterr().out.split("\ndone", 1)[0])
    assert printed["epochs"] == 1  # print_conf: the config as this run sees it


def test_an_archive_that_needs_a_whole_slide_reader_is_refused(corpus, capsys):
    argv = ["-m", str(corpus / "pathology"), "-c", "config/config_train.json", "--set", "epochs=1"]
    assert main("train", argv) == 1
    err = capsys.readouterr().err
    assert err.count("Error:") == 1
    assert "PatchWSIDataset reads whole-slide images with cuCIM, which is not installed" in err
    assert "Traceback" not in err


def _run(args: list[str], cwd: Path, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=timeout,
    )


@pytest.mark.slow
def test_train_export_evaluate_through_medl(mmar_41, tmp_path):
    mmar = str(mmar_41)
    train = _run(
        ["-u", "-m", "medl.apps.train", "-m", mmar, "-c", "config/config_train.json",
         "-e", "config/environment.json", "--write_train_stats",
         "--set", "print_conf=True", "epochs=1", "multi_gpu=False"],
        tmp_path,
    )  # fmt: skip
    assert train.returncode == 0, train.stderr[-3000:]
    assert '"epochs": 1' in train.stdout  # print_conf
    models = mmar_41 / "models"
    stats = json.loads((models / "train_stats.json").read_text(encoding="utf-8"))
    assert stats["total_epochs"] == 1 and stats["total_time"] > 0
    assert stats["best_key_metric_epoch"] == 1 and 0 <= stats["best_key_metric"] <= 1
    assert (models / "model.pt").is_file()
    export = _run(
        ["-u", "-m", "medl.apps.export", "-m", mmar, "-c", "config/config_train.json",
         "--model_path", str(models / "model.pt"), "--output_path", str(tmp_path / "out.ts"),
         "--input_shape", "[1, 1, 16, 16, 16]"],
        tmp_path,
    )  # fmt: skip
    assert export.returncode == 0, export.stderr[-3000:]
    assert (tmp_path / "out.ts").is_file()
    evaluate = _run(
        ["-u", "-m", "medl.apps.evaluate", "-m", mmar, "-c", "config/config_validation.json",
         "--set", f"MMAR_TORCHSCRIPT={tmp_path / 'out.ts'}", "dont_load_ts_model=False",
         "dont_load_ckpt_model=True"],
        tmp_path,
    )  # fmt: skip
    assert evaluate.returncode == 0, evaluate.stderr[-3000:]
    assert "report:" in evaluate.stdout


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_torch_distributed_launch_runs_medl_train_on_two_cpu_ranks(mmar_41, tmp_path):
    result = _run(
        ["-m", "torch.distributed.launch", "--nproc_per_node=2", "--nnodes=1",
         "--node_rank=0", "--master_addr=localhost", f"--master_port={_free_port()}",
         "-m", "medl.apps.train", "-m", str(mmar_41), "-c", "config/config_train.json",
         "-e", "config/environment.json", "--write_train_stats",
         "--set", "epochs=1", "multi_gpu=True"],
        tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 rank(s) on cpu" in result.stderr + result.stdout
    assert (mmar_41 / "models" / "train_stats.json").is_file()
