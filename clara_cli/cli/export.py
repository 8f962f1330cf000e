"""`clara export`: an MMAR's checkpoint to pt2, TorchScript and/or ONNX, checked against it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from clara_cli.cli.errors import configure_logging
from clara_cli.cli.options import mmar_options, output_options
from clara_cli.cli.overrides import ClaraCommand, parse_overrides

_BRACKETS = {"[": "]", "(": ")"}


class _Shape(click.ParamType):
    """A tensor shape: `[1, 1, 96, 96, 96]`, `1,1,96,96,96` or `1 1 96 96 96`."""

    name = "SHAPE"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, ...]:
        if isinstance(value, tuple):
            return value
        text = str(value).strip()
        opened, closed = text[:1] in ("[", "("), text[-1:] in ("]", ")")
        if opened != closed or (opened and _BRACKETS[text[0]] != text[-1]):
            self.fail(f"unbalanced brackets in {value!r}; e.g. '[1, 1, 96, 96, 96]'", param, ctx)
        tokens = (text[1:-1] if opened else text).replace(",", " ").split()
        try:
            shape = tuple(int(token) for token in tokens)
        except ValueError:
            shape = ()
        if len(shape) not in (4, 5) or min(shape) < 1:
            self.fail(
                f"expected [batch, channels, spatial...] with 2 or 3 positive spatial sizes, "
                f"e.g. '[1, 1, 96, 96, 96]', not {value!r}",
                param,
                ctx,
            )
        return shape


@click.command("export", cls=ClaraCommand)
@mmar_options("config/config_train.json")
@output_options
@click.option(
    "-f",
    "--format",
    "formats",
    type=click.Choice(["pt2", "torchscript", "onnx"]),
    multiple=True,
    default=(),
    help="Export format; repeat for several. pt2: torch.export. ONNX needs: pip install "
    "'clara-mmar[onnx]'.  [default: pt2, or TorchScript when torch.export cannot capture the "
    "network for any spatial size]",
)
@click.option(
    "--input-shape",
    type=_Shape(),
    default=None,
    help="Shape of the parity-check input, e.g. '[1, 1, 96, 96, 96]' (Clara's form) or "
    "1,1,96,96,96.  [default: 1, in_channels, patch_size]",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0.0, min_open=True),
    default=1e-4,
    show_default=True,
    help="Relative bound: the export may differ from the checkpoint's model by at most "
    "TOLERANCE x max(|output|, 1); the segmentations must also agree on 99.99 % of voxels.",
)
def command(
    mmar_root: Path,
    config_path: str,
    env_path: str,
    overrides: tuple[str, ...],
    debug: bool,
    formats: tuple[str, ...],
    input_shape: tuple[int, ...] | None,
    tolerance: float,
) -> None:
    """Export MMAR_CKPT to MMAR_PT2 (models/model.pt2), MMAR_TORCHSCRIPT (models/model.ts)
    and/or models/model.onnx.

    Each export is run next to the checkpoint's model on a seeded random input of the
    config's patch shape; it fails, writing nothing, when they differ by more than the
    tolerance or their segmentations differ. `clara validate` and `clara infer` then load the
    export (pt2 or TorchScript) with --set dont_load_ts_model=false dont_load_ckpt_model=true.

    \b
    Examples:
      clara export -m mmars/clara_pt_spleen_ct_segmentation
      clara export -m MMAR --format torchscript --format onnx
      clara export -m MMAR --input-shape '[1, 1, 160, 160, 160]' --set MMAR_CKPT=models/model_final.pt
    """
    configure_logging(debug)
    from clara_cli.workflows.session import RunRequest

    request = RunRequest(mmar_root, config_path, env_path, parse_overrides(overrides), "cpu")
    from clara_cli.families import run_for_archive
    from clara_cli.workflows.export import ExportOptions

    options = ExportOptions(formats, input_shape, tolerance)
    results = run_for_archive("export", request, options)
    click.echo(f"exported {', '.join(str(result.path) for result in results)}")
