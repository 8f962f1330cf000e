"""`clara check`: resolve an archive's configs without building or reading anything."""

from __future__ import annotations

from pathlib import Path

import click

from clara_cli.cli.errors import configure_logging
from clara_cli.cli.options import debug_option, env_option, mmar_option
from clara_cli.cli.overrides import ClaraCommand, parse_overrides


@click.command("check", cls=ClaraCommand)
@mmar_option
@click.option(
    "-c",
    "--config",
    "config_paths",
    multiple=True,
    help="A config to check, relative to MMAR_ROOT unless absolute; repeat for several. "
    "[default: every JSON file of config/]",
)
@env_option
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a variable, as for train/validate (`--set a=1 b=2`).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only problems and the summary.")
@debug_option
def command(
    mmar_root: Path,
    config_paths: tuple[str, ...],
    env_path: str,
    overrides: tuple[str, ...],
    quiet: bool,
    debug: bool,
) -> None:
    """Resolve every component of the archive's configs; build no network, read no image.

    Prints each component with the class it resolves to and the shims that apply, and lists
    what would stop a run: unknown names (with did-you-mean), unresolved variables, missing
    files (datalist, checkpoint, TorchScript model, custom module), and packages clara does
    not install. AutoML `search` blocks are ignored (said once). Exit status 1 on any problem.

    \b
    Examples:
      clara check -m mmars/clara_pt_spleen_ct_segmentation
      clara check -m MMAR -c config/config_validation.json --set DATASET_JSON=/data/ds.json
    """
    configure_logging(debug)
    from clara_cli.errors import ConfigError
    from clara_cli.families import load_families
    from clara_cli.workflows.check import check_archive

    load_families()
    report = check_archive(mmar_root, config_paths, env_path, parse_overrides(overrides))
    searched = []
    for check in report.configs:
        name = _shown(check.config_file, report.mmar_root)
        if check.skipped:
            click.echo(f"{name}: skipped: {check.skipped}")
        elif check.resolved is not None:
            sections = ", ".join(check.resolved.sections)
            count = sum(1 for _ in check.resolved.components())
            click.echo(f"{name}: {sections}: {count} components")
            if not quiet:
                for component in check.resolved.components():
                    click.echo("  " + component.describe().replace("\n", "\n  "))
        else:
            click.echo(f"{name}:")
        for problem in check.problems:
            click.echo("  error: " + str(problem).replace("\n", "\n  "))
        if check.search_blocks:
            searched.append(f"{name} ({check.search_blocks})")
    if searched:
        click.echo(
            "note: AutoML 'search' blocks are ignored (each config runs as written): "
            + ", ".join(searched)
        )
    checked = [c for c in report.configs if not c.skipped or c.problems]
    failed = [c for c in checked if not c.ok]
    if failed:
        names = ", ".join(_shown(c.config_file, report.mmar_root) for c in failed)
        raise ConfigError(
            f"{len(report.problems)} problem(s) in {len(failed)} of {len(checked)} config(s): "
            f"{names}"
        )
    click.echo(f"ok: {len(checked)} config(s) resolve")


def _shown(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
