"""Run a function over many items in N processes, the calling process being one of them.

Helper processes are spawned (no inherited state, the same on every platform), which costs a
few tenths of a second each; the calling process works on the first items meanwhile (in a
thread: SimpleITK and numpy release the GIL), so `-j 2` loses no time to start-up. Every
process holds one item at a time and takes the next as soon as it is done, so with the largest
items first, they all finish at about the same time. Each process limits SimpleITK to its share
of the CPU cores.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def run_unordered(
    function: Callable[[T], R],
    items: Sequence[T],
    workers: int,
    on_crash: Callable[[T, BaseException], R],
) -> Iterator[R]:
    """Yield `function(item)` for every item, in completion order, using `workers` processes.

    Args:
        function: a picklable callable (a module-level function or a functools.partial of one)
            that reports its own errors in its result; it also runs in this process.
        items: picklable work items, best sorted largest first.
        workers: total number of processes, this one included; 1 runs everything here, in order.
        on_crash: builds the result of an item whose process died or raised.
    """
    if workers <= 1 or len(items) <= 1:
        for item in items:
            yield function(item)
        return

    import multiprocessing
    from concurrent.futures import (
        FIRST_COMPLETED,
        Executor,
        Future,
        ProcessPoolExecutor,
        ThreadPoolExecutor,
        wait,
    )

    import SimpleITK as sitk

    helpers = min(workers, len(items)) - 1
    threads = max(1, (os.cpu_count() or 1) // (helpers + 1))
    previous_threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
    pending = deque(items)
    running: dict[Future[R], tuple[T, Executor]] = {}
    context = multiprocessing.get_context("spawn")
    local = ThreadPoolExecutor(1, thread_name_prefix="clara-local")
    pool = ProcessPoolExecutor(helpers, context, _limit_threads, (threads,))
    capacity = {local: 1, pool: helpers}
    try:
        while pending or running:
            for executor, slots in capacity.items():
                busy = sum(1 for _, owner in running.values() if owner is executor)
                for _ in range(slots - busy):
                    if not pending:
                        break
                    item = pending.popleft()
                    try:
                        running[executor.submit(function, item)] = (item, executor)
                    except RuntimeError:  # BrokenProcessPool: the others carry on
                        pending.appendleft(item)
                        capacity[executor] = 0
                        break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                item, _ = running.pop(future)
                try:
                    yield future.result()
                except Exception as err:  # noqa: BLE001 - a dead helper fails its item only
                    yield on_crash(item, err)
    finally:
        for future in running:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
        local.shutdown(wait=True, cancel_futures=True)
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(previous_threads)


def _limit_threads(threads: int) -> None:
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)
