from __future__ import annotations

import os

from clara_cli.data.parallel import run_unordered


def square_with_pid(value: int) -> tuple[int, int]:
    return value * value, os.getpid()


def die_in_workers(value: int) -> int:
    # spawned workers inherit the environment, which names the test's own process
    if os.environ.get("CLARA_TEST_MAIN_PID") != str(os.getpid()):
        os._exit(3)  # a worker process dies without a word
    return value


def test_two_processes_share_the_work_and_return_everything():
    results = list(run_unordered(square_with_pid, list(range(12)), 2, lambda i, e: (-1, -1)))
    assert sorted(value for value, _ in results) == [i * i for i in range(12)]
    assert len({pid for _, pid in results}) == 2  # this process and one spawned helper


def test_a_dying_worker_fails_only_its_items_and_the_rest_run_here():
    os.environ["CLARA_TEST_MAIN_PID"] = str(os.getpid())
    try:
        results = list(
            run_unordered(die_in_workers, list(range(6)), 2, lambda i, e: ("crashed", i))
        )
    finally:
        del os.environ["CLARA_TEST_MAIN_PID"]
    done = sorted(r for r in results if not isinstance(r, tuple))
    crashed = sorted(r[1] for r in results if isinstance(r, tuple))
    assert sorted(done + crashed) == list(range(6))
    assert crashed  # the items sent to the dead worker are reported, not lost
    assert done  # and the others still ran in this process


def test_one_worker_runs_in_order_here():
    assert list(run_unordered(square_with_pid, [3, 1], 1, lambda i, e: None)) == [
        (9, os.getpid()),
        (1, os.getpid()),
    ]
