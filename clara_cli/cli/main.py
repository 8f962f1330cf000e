"""The `clara` command group.

Subcommands are registered eagerly (so click can suggest "Did you mean 'train'?") but their
modules import only click: torch, MONAI and SimpleITK load inside the command bodies.
"""

from __future__ import annotations

import click

from clara_cli.cli import (
    check,
    dataconvert,
    experiments,
    export,
    infer,
    prepare_dataset,
    synth,
    train,
    validate,
)
from clara_cli.cli.errors import ClaraGroup
from clara_cli.cli.options import debug_option


def _print_versions(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from clara_cli.versions import format_versions, stack_versions

    click.echo(format_versions(stack_versions()))
    ctx.exit()


@click.group(
    cls=ClaraGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_versions,
    help="Show clara's version and the stack it runs on (Python, torch, MONAI, ...), then exit.",
)
@debug_option
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Run Medical Model ARchives (MMARs): train, validate, infer and export models.

    An MMAR is a folder with config/environment.json and config/config_*.json, as in
    NVIDIA Clara Train 4.x. Every command takes -m MMAR_ROOT (default: the current
    folder) and Clara's `--set KEY=VALUE ...` overrides.

    \b
    Typical session:
      clara synth spleen -o data/spleen            # phantom data to try things on
      clara train    -m mmars/clara_pt_spleen_ct_segmentation --set DATA_ROOT=$PWD/data/spleen
      clara validate -m mmars/clara_pt_spleen_ct_segmentation
      clara export   -m mmars/clara_pt_spleen_ct_segmentation
      clara infer    -m mmars/clara_pt_spleen_ct_segmentation --input scan.nii.gz
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


for _module in (
    dataconvert,
    prepare_dataset,
    train,
    validate,
    infer,
    export,
    synth,
    experiments,
    check,
):
    cli.add_command(_module.command)
