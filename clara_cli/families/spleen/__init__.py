"""Spleen CT segmentation (Clara's `clara_pt_spleen_ct_segmentation`, AHNet): the family that
shows the plug-in seam at its smallest. It needs no workflow, wiring rule or step variant of
its own (the archive is a plain supervised Clara 4.1 config); it brings its phantom."""

from __future__ import annotations

from clara_cli.families import Family, Phantom

FAMILY = Family(
    name="spleen",
    description="spleen CT segmentation (AHNet, MSD Task09)",
    phantoms=(
        Phantom(
            name="spleen",
            summary="Abdominal CT phantoms (int16 HU) with spleen labels, like MSD Task09_Spleen.",
            generate="clara_cli.families.spleen.phantom:synthesize",
            description=(
                "Abdominal CT-like int16 volumes in HU with a spleen-like ellipsoid, a liver, "
                "aorta and vertebra, anisotropic spacing and sometimes flipped axes."
            ),
            default_size=128,
        ),
    ),
)
