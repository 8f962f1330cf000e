"""Test-only fault injection for the tiny MMAR: die or fail at a chosen point of training.

Used by the resume and failure tests through `--set kill_at_iteration=N` and friends; every
switch is off (-1) by default.
"""

from __future__ import annotations

import os
import signal


class FaultInjector:
    """A trainer handler that kills the process or raises, once a chosen point is reached.

    Args:
        kill_at_iteration: SIGKILL this process when this global iteration completes.
        kill_writing_epoch: SIGKILL this process while the resume checkpoint of this epoch is
            being written: after its temporary file is complete, before the rename.
        fail_at_iteration, fail_on_rank: raise RuntimeError on that rank at that iteration.
    """

    def __init__(
        self,
        kill_at_iteration: int = -1,
        kill_writing_epoch: int = -1,
        fail_at_iteration: int = -1,
        fail_on_rank: int = -1,
    ) -> None:
        self.kill_at_iteration = int(kill_at_iteration)
        self.kill_writing_epoch = int(kill_writing_epoch)
        self.fail_at_iteration = int(fail_at_iteration)
        self.fail_on_rank = int(fail_on_rank)

    def attach(self, engine) -> None:
        from ignite.engine import Events

        engine.add_event_handler(Events.ITERATION_COMPLETED, self._iteration_completed)
        if self.kill_writing_epoch >= 0:
            self._kill_in_rename(f".resume_checkpoint_epoch={self.kill_writing_epoch}.pt.")

    def _iteration_completed(self, engine) -> None:
        iteration = engine.state.iteration
        rank = int(os.environ.get("RANK", "0"))
        if iteration == self.kill_at_iteration:
            os.kill(os.getpid(), signal.SIGKILL)
        if iteration == self.fail_at_iteration and rank == self.fail_on_rank:
            raise RuntimeError(f"injected failure on rank {rank} at iteration {iteration}")

    @staticmethod
    def _kill_in_rename(prefix: str) -> None:
        real_replace = os.replace

        def replace(src, dst, *args, **kwargs):
            if os.path.basename(str(src)).startswith(prefix):
                os.kill(os.getpid(), signal.SIGKILL)
            return real_replace(src, dst, *args, **kwargs)

        os.replace = replace
