"""What every workflow run sets up first: config, variables, sys.path, device, rank, seed."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from clara_cli.mmar.loader import MmarConfig, load_mmar_config
from clara_cli.mmar.variables import substitute

log = logging.getLogger("clara")


@dataclass
class RunRequest:
    """The command-line inputs of one workflow run (what `clara train|validate|infer` got).

    Attributes:
        mmar_root: the archive.
        config_path: workflow config, relative to mmar_root unless absolute.
        env_path: environment.json, relative to mmar_root unless absolute.
        overrides: `--set` values.
        device: "auto" (CUDA when visible), "cpu" or "cuda".
        master_addr: node 0's address for a SLURM job (``--master-addr``), else None.
        master_port: node 0's port for a SLURM job (``--master-port``), else None.
        mmar: the config as read by the process that started the job; workers reuse it, so
            the files are read once per job (None: read it when the session opens).

    A workflow's own options (training's ``--resume``, inference's inputs) travel beside the
    request as that workflow's typed options dataclass.
    """

    mmar_root: Path
    config_path: str | Path
    env_path: str | Path = "config/environment.json"
    overrides: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    master_addr: str | None = None
    master_port: int | None = None
    mmar: MmarConfig | None = None

    def load(self) -> MmarConfig:
        """The run's config: the one read already, else read now (once)."""
        if self.mmar is None:
            self.mmar = load_mmar_config(
                self.mmar_root,
                self.config_path,
                self.env_path,
                self.overrides,
                check_overrides=True,
            )
        return self.mmar


@dataclass
class Session:
    """A loaded config, plus this process's place in the job.

    Config sections resolve their own components (`workflows.sections`); `conf` is the whole
    config substituted, for what needs it whole (`@conf`, saved in checkpoints).
    """

    request: RunRequest
    mmar: MmarConfig
    dist: Any  # engine.distributed.DistContext

    @property
    def variables(self) -> dict[str, Any]:
        return self.mmar.variables

    @cached_property
    def conf(self) -> dict[str, Any]:
        """The config with its variables substituted (once), except in components that are
        disabled or for another rank: those stay as written, as Clara never resolved them."""
        conf: dict[str, Any] = substitute(
            self.mmar.config,
            self.variables,
            "",
            str(self.mmar.config_file),
            rank=self.dist.rank,
        )
        return conf

    def var(self, name: str, default: Any = None) -> Any:
        """A variable's value, substituted."""
        if name not in self.variables:
            return default
        return substitute(self.variables[name], self.variables, name, str(self.mmar.config_file))

    def path_var(self, name: str) -> Path:
        """A path variable (MMAR_CKPT_DIR, ...) as an absolute Path."""
        from clara_cli.errors import ConfigError

        value = self.var(name)
        if not value:
            raise ConfigError(
                f"{name} is not set: add it to {self.mmar.env_file} or pass --set {name}=PATH"
            )
        return Path(value)


def open_session(request: RunRequest) -> Session:
    """Load the config, put MMAR_ROOT/custom on sys.path, join the process group, seed."""
    from clara_cli.allocator import keep_freed_memory
    from clara_cli.launch import process_group as distributed

    keep_freed_memory()
    mmar = request.load()
    for extra_path in (mmar.mmar_root / "custom", mmar.mmar_root):
        if extra_path.is_dir() and str(extra_path) not in sys.path:
            sys.path.insert(0, str(extra_path))
    dist = distributed.init_distributed(
        request.device, master_addr=request.master_addr, master_port=request.master_port
    )
    distributed.silence_other_ranks(dist)
    if dist.is_distributed:
        # ignite sets up its distributed helpers lazily, with a collective (a new gloo
        # group), on the first idist call. Rank-0-only components (CheckpointSaver) make that
        # call on rank 0 alone, which would wait forever: do it now, on every rank.
        import ignite.distributed as idist

        idist.sync()
    session = Session(request, mmar, dist)
    seeded = _seed(session)
    apply_backend_variables(session, deterministic=seeded)
    return session


def random_seed(session: Session) -> int | None:
    """The config's `determinism.random_seed` (or a bare `determinism: N`), else None."""
    determinism = session.var("determinism")
    seed = None
    if isinstance(determinism, dict):
        seed = determinism.get("random_seed")
    elif isinstance(determinism, int) and not isinstance(determinism, bool):
        seed = determinism
    return None if seed is None else int(seed)


def _seed(session: Session) -> bool:
    seed = random_seed(session)
    if seed is None:
        return False
    from clara_cli.determinism import rank_seed, seed_everything

    # Each rank gets its own stream for augmentation (rank offset), so shards are not
    # augmented identically; the whole job stays reproducible for a given world size.
    seed_everything(rank_seed(seed, session.dist.rank))
    return True


def apply_backend_variables(session: Session, deterministic: bool = False) -> None:
    """Honour the config's `tf32` and `cudnn_benchmark` on CUDA (both are CUDA-only switches).

    A variable the config does not set leaves PyTorch's default alone.
    """
    if session.dist.device.type != "cuda":
        return
    tf32, benchmark = session.var("tf32"), session.var("cudnn_benchmark")
    if tf32 is None and benchmark is None:
        return
    import torch

    from clara_cli.mmar.variables import truthy

    if tf32 is not None:
        torch.backends.cuda.matmul.allow_tf32 = truthy(tf32)
        torch.backends.cudnn.allow_tf32 = truthy(tf32)
    if benchmark is not None:
        if truthy(benchmark) and deterministic:
            log.warning("cudnn_benchmark: true is ignored because determinism is on")
        torch.backends.cudnn.benchmark = truthy(benchmark) and not deterministic
