"""`clara check`: resolve every config of an archive, build nothing, list what would fail.

For each workflow config: every component with the class it resolves to and the shims that
apply (`resolve_config`), the problems a run would stop on (unknown names with did-you-mean,
unresolved variables, references to nothing), the files it needs that are not there (the
datalist, a checkpoint or TorchScript model to load; missing custom modules come out of
resolving as import problems), and packages it needs that clara does not install (whole-slide
readers). AutoML `search` blocks are noted and ignored; AutoML controller configs and
datalists in config/ are listed as skipped. No network is built and no image is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clara_cli.errors import ClaraError
from clara_cli.mmar import layout
from clara_cli.mmar.items import Problem, ResolvedComponent, walk
from clara_cli.mmar.loader import load_json, load_mmar_config, resolve_in_mmar
from clara_cli.mmar.requirements import missing_packages
from clara_cli.mmar.resolved_config import ResolvedConfig, resolve_config

#: Top-level keys of an AutoML controller config (config_automl.json), which clara does not run.
AUTOML_KEYS = ("controller", "executor")
AUTOML_CONTROLLER = "an AutoML controller config (clara does not run AutoML)"


@dataclass
class ConfigCheck:
    """The check of one file of config/.

    Attributes:
        config_file: the file.
        skipped: why it is not checked ("" when it is a workflow config that was checked).
        resolved: its resolved components (None when skipped or refused).
        problems: what would stop a run, each message naming the file and key path.
        search_blocks: AutoML `search` blocks found (ignored: the config runs as written).
    """

    config_file: Path
    skipped: str = ""
    resolved: ResolvedConfig | None = None
    problems: list[Problem] = field(default_factory=list)
    search_blocks: int = 0

    @property
    def ok(self) -> bool:
        """Nothing would stop a run of this config."""
        return not self.problems


@dataclass
class ArchiveCheck:
    """The check of an archive: one `ConfigCheck` per config, in file order."""

    mmar_root: Path
    configs: list[ConfigCheck]

    @property
    def ok(self) -> bool:
        """No config has a problem."""
        return all(c.ok for c in self.configs)

    @property
    def problems(self) -> list[Problem]:
        """Every problem of every config."""
        return [p for c in self.configs for p in c.problems]


def check_archive(
    mmar_root: Path,
    config_paths: Iterable[str | Path] = (),
    env_path: str | Path = layout.DEFAULT_ENV,
    overrides: Mapping[str, Any] | None = None,
) -> ArchiveCheck:
    """Check `config_paths` of the archive (none given: every JSON file of its config/).

    Call `clara_cli.families.load_families()` first, so that family components (DeepGrow's
    stats handler, ...) resolve as they do in a run.

    Raises:
        ConfigError: a config named explicitly is missing or is not JSON.
    """
    mmar_root = Path(mmar_root).resolve()
    explicit = [resolve_in_mmar(mmar_root, p) for p in config_paths]
    env_file = resolve_in_mmar(mmar_root, env_path).resolve()
    files = explicit or [
        p for p in sorted((mmar_root / layout.CONFIG_DIR).glob("*.json")) if p.resolve() != env_file
    ]
    checks = [
        _check_file(mmar_root, f, env_path, dict(overrides or {}), bool(explicit)) for f in files
    ]
    return ArchiveCheck(mmar_root, checks)


def _check_file(
    mmar_root: Path, path: Path, env_path: str | Path, overrides: dict[str, Any], explicit: bool
) -> ConfigCheck:
    if explicit:
        raw = load_json(path)
    else:
        try:
            raw = load_json(path)
        except ClaraError as err:
            if not path.name.startswith("config_"):
                return ConfigCheck(path, skipped="not valid JSON")
            # Named like a workflow config (config_train.json ...): a run would stop on it.
            check = ConfigCheck(path, skipped="not valid JSON")
            check.problems.append(Problem("", str(err)))
            return check
    what = _kind(raw)
    if what != "workflow":
        check = ConfigCheck(path, skipped=what)
        if explicit and what != AUTOML_CONTROLLER:
            check.problems.append(
                Problem(
                    "",
                    f"{path}: {what}: expected a workflow config (train, validation or inference)",
                )
            )
        return check
    check = ConfigCheck(path, search_blocks=_count_search_blocks(raw))
    refusal = missing_packages(raw, str(path))
    if refusal:
        check.problems.extend(refusal)
        return check
    try:
        mmar = load_mmar_config(mmar_root, path, env_path, overrides)
        check.resolved = resolve_config(mmar)
    except ClaraError as err:
        check.problems.append(Problem("", str(err)))
        return check
    check.problems.extend(check.resolved.problems)
    check.problems.extend(_missing_files(check.resolved))
    return check


def _kind(raw: Any) -> str:
    """ "workflow", or why the file is not a workflow config."""
    if not isinstance(raw, dict):
        return "not a JSON object"
    if any(k in raw for k in AUTOML_KEYS):
        return AUTOML_CONTROLLER
    if isinstance(raw.get("train"), dict) or any(k in raw for k in layout.SECTION_KEYS):
        return "workflow"
    if any(isinstance(v, list) for v in raw.values()):
        return "a datalist, not a workflow config"
    return "no workflow sections (train, model, pre_transforms, ...)"


def _count_search_blocks(value: Any) -> int:
    if isinstance(value, dict):
        own = 1 if isinstance(value.get("search"), list) else 0
        return own + sum(_count_search_blocks(v) for k, v in value.items() if k != "search")
    if isinstance(value, list):
        return sum(_count_search_blocks(v) for v in value)
    return 0


def _missing_files(resolved: ResolvedConfig) -> list[Problem]:
    """The datalist and the checkpoints/TorchScript models switched-on components load."""
    problems: list[Problem] = []
    source = resolved.source

    def need(key_path: str, what: str, value: Any, hint: str) -> None:
        if isinstance(value, str) and value and "{" not in value and not Path(value).exists():
            problems.append(
                Problem(key_path, f"{source}: {key_path}: {what} {value} does not exist\n  {hint}")
            )

    for component in resolved.components():
        if component.skipped:
            continue
        spec = component.spec
        if "data_list_file_path" in spec:
            need(
                f"{component.key_path}.data_list_file_path",
                "datalist",
                spec["data_list_file_path"],
                "set DATASET_JSON (and DATA_ROOT) with --set or in environment.json",
            )
        if getattr(component.target, "__name__", "") == "CheckpointLoader":
            need(
                f"{component.key_path}.args.load_path",
                "checkpoint",
                component.args.get("load_path"),
                "train first (clara train), or set MMAR_CKPT, or disable the loader",
            )
    for path, value in resolved.entries.items():
        if path.rpartition(".")[2] != "model":
            continue
        for item in walk(value):
            if isinstance(item, ResolvedComponent) or not isinstance(item, dict):
                continue
            if item.get("disabled") is True:
                continue
            need(
                path,
                "TorchScript model",
                item.get("ts_path"),
                "export first (clara export), or set MMAR_TORCHSCRIPT",
            )
            need(
                path,
                "checkpoint",
                item.get("ckpt_path"),
                "train first (clara train), or set MMAR_CKPT",
            )
    return problems
