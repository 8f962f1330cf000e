"""The experiment queue: reading the CSV, skipping finished rows, failures, resume, tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from clara_cli.cli.main import cli
from clara_cli.errors import ConfigError
from clara_cli.report.experiment_tables import ResultsLayout, results_markdown
from clara_cli.workflows.experiments import (
    DONE,
    FAILED,
    RUNNING,
    QueueOptions,
    RowState,
    queue_status,
    read_queue,
    read_state,
    run_queue,
    write_state,
)

QUEUE = """# model grid
model,encoder,n4,axis,epochs
Unet,random,false,0,
FPN,resnet50,true,0,3

Linknet,random,true,2,[1]
"""


def _queue(tmp_path, text=QUEUE):
    path = tmp_path / "pipeline.csv"
    path.write_text(text)
    return read_queue(path)


def _options(tmp_path, **kwargs):
    return QueueOptions(mmar_root=tmp_path, output_dir=tmp_path / "runs", **kwargs)


class FakeRows:
    """Stands in for training: records calls, fails on request, metric from the row."""

    def __init__(self, fail_on=()):
        self.calls = []
        self.fail_on = set(fail_on)

    def __call__(self, options, overrides, resume):
        self.calls.append((overrides["model"], resume))
        assert overrides["MMAR_CKPT_DIR"].startswith(str(options.output_dir))
        if overrides["model"] in self.fail_on:
            raise RuntimeError("CUDA out of memory\n  details")
        return {"Unet": 0.84, "FPN": 0.8, "Linknet": 0.755}[overrides["model"]]


def test_cells_are_typed_like_set_values_and_blank_cells_left_out(tmp_path):
    queue = _queue(tmp_path)
    assert queue.columns == ("model", "encoder", "n4", "axis", "epochs")
    first, second, third = queue.experiments
    assert first.settings == {"model": "Unet", "encoder": "random", "n4": False, "axis": 0}
    assert second.settings["epochs"] == 3 and second.settings["n4"] is True
    assert third.settings["epochs"] == [1] and third.line == 6
    assert len({e.folder for e in queue.experiments}) == 3
    assert first.folder.startswith("Unet-random-false-0-")
    # the folder follows the settings, not the position: reordering keeps results
    reordered = _queue(tmp_path, "model,encoder,n4,axis,epochs\nFPN,resnet50,true,0,3\n")
    assert reordered.experiments[0].folder == second.folder


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no header"),
        ("model,model\nUnet,FPN\n", "appears twice"),
        ("model,MMAR_CKPT_DIR\nUnet,x\n", "set by the queue"),
        ("model,axis\nUnet,0,1\n", ":2: 3 cells but the header names 2"),
    ],
)
def test_malformed_queue_files_say_what_and_where(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        _queue(tmp_path, text)


def test_missing_queue_file(tmp_path):
    with pytest.raises(ConfigError, match="experiment queue not found"):
        read_queue(tmp_path / "nope.csv")


def test_runs_every_row_records_failures_and_goes_on(tmp_path):
    queue = _queue(tmp_path)
    rows = FakeRows(fail_on={"FPN"})
    result = run_queue(queue, _options(tmp_path), rows)
    assert [state.status for _, state in result] == [DONE, FAILED, DONE]
    assert rows.calls == [("Unet", False), ("FPN", False), ("Linknet", False)]
    failed = result[1][1]
    assert failed.error == "RuntimeError: CUDA out of memory" and failed.metric is None
    log = (tmp_path / "runs" / queue.experiments[1].folder / "clara.log").read_text()
    assert "Traceback" in log and "CUDA out of memory" in log
    table = (tmp_path / "runs" / "results.csv").read_text().splitlines()
    assert table[0] == "model,encoder,n4,axis,epochs,status,metric_percent,minutes,error,folder"
    assert table[1].startswith("Unet,random,false,0,,done,84.00,")
    assert ",failed,," in table[2]


def test_second_run_skips_finished_and_failed_rows_unless_retried(tmp_path):
    queue = _queue(tmp_path)
    run_queue(queue, _options(tmp_path), FakeRows(fail_on={"FPN"}))
    again = FakeRows()
    result = run_queue(queue, _options(tmp_path), again)
    assert again.calls == []
    assert [s.status for _, s in result] == [DONE, FAILED, DONE]
    retry = FakeRows()
    result = run_queue(queue, _options(tmp_path, retry_failed=True), retry)
    assert retry.calls == [("FPN", False)]
    assert result[1][1].status == DONE and result[1][1].attempts == 2


def test_an_interrupted_row_is_resumed_and_earlier_rows_are_not_rerun(tmp_path):
    queue = _queue(tmp_path)
    options = _options(tmp_path)
    first, second, _ = queue.experiments
    write_state(options.output_dir / first.folder, RowState(status=DONE, metric=0.5))
    write_state(options.output_dir / second.folder, RowState(status=RUNNING, seconds=30.0))
    rows = FakeRows()
    result = run_queue(queue, options, rows)
    assert rows.calls == [("FPN", True), ("Linknet", False)]
    assert result[0][1].metric == 0.5  # kept, not retrained
    assert result[1][1].seconds >= 30.0  # time before the interruption still counts


def test_ctrl_c_leaves_the_row_running_for_the_next_run(tmp_path):
    queue = _queue(tmp_path)
    options = _options(tmp_path)

    def interrupted(options, overrides, resume):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_queue(queue, options, interrupted)
    assert read_state(options.output_dir / queue.experiments[0].folder).status == RUNNING
    assert not (options.output_dir / ".queue.lock").exists()


def test_a_live_queue_on_the_same_folder_is_refused_and_a_dead_ones_lock_taken_over(tmp_path):
    queue = _queue(tmp_path)
    options = _options(tmp_path)
    options.output_dir.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (options.output_dir / ".queue.lock").write_text(f"{sleeper.pid}\n")
        with pytest.raises(ConfigError, match=f"process {sleeper.pid}"):
            run_queue(queue, options, FakeRows())
    finally:
        sleeper.kill()
        sleeper.wait()
    rows = FakeRows()
    run_queue(queue, options, rows)  # the lock's process is gone
    assert len(rows.calls) == 3


def test_markdown_in_the_study_layout_one_table_per_axis(tmp_path):
    queue = _queue(tmp_path)
    run_queue(queue, _options(tmp_path), FakeRows(fail_on={"FPN"}))
    layout = ResultsLayout(
        group_by="axis",
        group_titles={"0": "Results for models trained on SAGITTAL view (axis-0):"},
        columns={"model": "Model", "encoder": "Encoder", "n4": "N4 correction"},
        values={"n4": {"true": "Yes", "false": "No"}, "encoder": {"random": "random init."}},
        digits=0,
    )
    text = results_markdown(
        ("model", "encoder", "n4", "axis"), queue_status(queue, tmp_path / "runs"), layout
    )
    lines = text.splitlines()
    assert lines[0] == "Results for models trained on SAGITTAL view (axis-0):"
    assert lines[2].split("|")[1:5] == ["Model  ", "Encoder       ", "N4 correction  ", "DSC, %  "]
    assert lines[3].startswith("|-------|:")
    assert [cell.strip() for cell in lines[4].split("|")[1:5]] == [
        "Unet",
        "random init.",
        "No",
        "84",
    ]
    assert [cell.strip() for cell in lines[5].split("|")[1:5]] == [
        "FPN",
        "resnet50",
        "Yes",
        "failed",
    ]
    assert "Results for axis = 2:" in text  # no title given: a plain one
    assert [cell.strip() for cell in lines[-1].split("|")[1:5]] == [
        "Linknet", "random init.", "Yes", "76",
    ]  # fmt: skip


def test_layout_file_beside_the_queue_is_used(tmp_path):
    queue = _queue(tmp_path)
    (tmp_path / "results_layout.json").write_text(
        json.dumps({"group_by": "axis", "metric": "Dice %", "digits": 2})
    )
    run_queue(queue, _options(tmp_path), FakeRows())
    text = (tmp_path / "runs" / "results.md").read_text()
    assert "Dice %" in text and "84.00" in text and "Results for axis = 0:" in text
    (tmp_path / "results_layout.json").write_text('{"group": "axis"}')
    with pytest.raises(ConfigError, match="not a results layout"):
        run_queue(queue, _options(tmp_path), FakeRows())


def test_status_command_shows_each_row(tmp_path):
    queue = _queue(tmp_path)
    run_queue(queue, _options(tmp_path), FakeRows(fail_on={"FPN"}))
    result = CliRunner().invoke(
        cli, ["experiments", "status", str(queue.path), "-o", str(tmp_path / "runs")]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "#",
        "model",
        "encoder",
        "n4",
        "axis",
        "epochs",
        "status",
        "%",
        "min",
    ]
    assert lines[1].split()[:6] == ["1", "Unet", "random", "false", "0", "done"]
    assert "(RuntimeError: CUDA out of memory)" in lines[2]
    assert "2 done, 1 failed" in result.output


def test_run_command_reports_a_missing_queue(tmp_path, mmar_41):
    result = CliRunner().invoke(
        cli, ["experiments", "run", str(tmp_path / "missing.csv"), "-m", str(mmar_41)]
    )
    assert result.exit_code == 1
    assert "experiment queue not found" in result.output


# --- on the engine: real training runs of a tiny MMAR -------------------------------------


def _clara(*args, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-m", "clara_cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        encoding="utf-8",
        errors="replace",
        **kwargs,
    )


@pytest.mark.slow
def test_killed_queue_resumes_at_the_unfinished_row_without_retraining(tmp_path, mmar_41):
    """SIGKILL the queue while row 2 trains; the rerun skips row 1 and resumes row 2."""
    queue_path = tmp_path / "queue.csv"
    queue_path.write_text("learning_rate,epochs\n1e-3,1\n2e-3,5\n")
    out = tmp_path / "runs"
    args = ["experiments", "run", str(queue_path), "-m", str(mmar_41), "-o", str(out)]
    first, second = read_queue(queue_path).experiments
    process = _clara(*args, "--device", "cpu")
    try:
        deadline = time.monotonic() + 240
        second_dir = out / second.folder
        while time.monotonic() < deadline and process.poll() is None:
            # kill once row 2 has saved a resume checkpoint (it then trains on)
            if list((second_dir / "models").glob("resume_checkpoint_epoch=*.pt")):
                break
            time.sleep(0.2)
        assert process.poll() is None, process.stdout.read()[-3000:]
        process.kill()
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
    assert read_state(out / first.folder).status == DONE
    assert read_state(second_dir).status == RUNNING
    finished_model = out / first.folder / "models" / "model.pt"
    stamp = os.stat(finished_model).st_mtime_ns

    rerun = _clara(*args, "--device", "cpu")
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output[-3000:]
    assert "[1/2] learning_rate=1e-3 epochs=1: done" in output and "skipped" in output
    assert "[2/2] learning_rate=2e-3 epochs=5: resuming" in output
    assert "resuming from resume_checkpoint_epoch=" in output
    assert os.stat(finished_model).st_mtime_ns == stamp  # row 1 not retrained
    states = [read_state(out / e.folder) for e in (first, second)]
    assert [s.status for s in states] == [DONE, DONE]
    assert states[1].attempts == 2 and all(0.0 <= s.metric <= 1.0 for s in states)
    results = (out / "results.csv").read_text().splitlines()
    assert len(results) == 3 and all(",done," in line for line in results[1:])
