"""Images: every LoadImage(d) of a config also reads through clara's SimpleITK reader, and
reads NIfTI with MONAI's nibabel reader handing over C-ordered arrays.

MONAI picks a reader by file suffix and, without the `itk` or `pynrrd` packages (clara ships
neither), has none for NRRD/NHDR and MetaImage: `clara train/validate/infer` failed on them with
"cannot find a suitable reader" while `clara dataconvert` read them. Each LoadImage(d) that
chooses its reader itself (no `reader` in the config) gets :class:`SimpleITKReader` registered
for those formats and DICOM folders, the reader `dataconvert` uses, which gives the same arrays
and affines as MONAI's NIfTI reader (tests/io/test_monai_reader.py). NIfTI stays with MONAI's
nibabel reader, so NIfTI runs (and their regression figures) are unchanged; a config that names
a reader keeps exactly the readers it names.

The NIfTI reader a LoadImage(d) chose itself becomes :class:`COrderNibabelReader` (a class
swap: its arguments stay): the same arrays and metadata, without MONAI's whole-volume
transposing copy (0.25 s of a 512 x 512 x 100 CT down to 0.06 s; clara_cli/io/nibabel_reader.py).
"""

from __future__ import annotations

from typing import Any

from clara_cli.engine.wiring.predicates import subclass_of
from clara_cli.engine.wiring.rules import BuildContext, Rule

#: The suffixes (plus DICOM folders) the added reader takes; MONAI keeps everything else.
SIMPLEITK_SUFFIXES = (".nrrd", ".nhdr", ".mha", ".mhd")


def _chooses_its_reader(ctx: BuildContext) -> bool:
    loader = getattr(ctx.obj, "_loader", ctx.obj)
    return bool(getattr(loader, "auto_select", False))


def _add_simpleitk_reader(ctx: BuildContext) -> Any:
    if _chooses_its_reader(ctx):
        from clara_cli.io.monai_reader import SimpleITKReader

        # Registered last, so LoadImage asks it first (it walks its readers in reverse).
        ctx.obj.register(SimpleITKReader(suffixes=SIMPLEITK_SUFFIXES))
    return ctx.obj


def _c_order_nifti(ctx: BuildContext) -> Any:
    if _chooses_its_reader(ctx):
        from monai.data import NibabelReader

        from clara_cli.io.nibabel_reader import COrderNibabelReader

        loader = getattr(ctx.obj, "_loader", ctx.obj)
        for reader in loader.readers:
            if type(reader) is NibabelReader:
                reader.__class__ = COrderNibabelReader
    return ctx.obj


RULES = (
    Rule(
        "readers.simpleitk",
        subclass_of("monai.transforms.LoadImage", "monai.transforms.LoadImaged"),
        after=_add_simpleitk_reader,
    ),
    Rule(
        "readers.nifti_c_order",
        subclass_of("monai.transforms.LoadImage", "monai.transforms.LoadImaged"),
        after=_c_order_nifti,
    ),
)
