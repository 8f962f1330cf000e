"""Cervical-spine MRI segmentation (the "cervical spine segmentation" study on
segmentation_models_pytorch): 2D Unet/FPN/Linknet/PSPNet models trained on slices of one
view axis (0 sagittal, 1 coronal, 2 axial) or of all three ("012"), optional N4 bias-field
correction, view fusion at inference, and the study's experiment queue (`pipeline.csv`,
run by `clara experiments run`)."""

from __future__ import annotations

from clara_cli.families import Family, Phantom

FAMILY = Family(
    name="cervical",
    description="cervical-spine MRI segmentation (2D smp models per view axis, view fusion)",
    phantoms=(
        Phantom(
            name="cspine",
            summary="T2-like cervical-spine MRI phantoms (NRRD) with a binary spine mask.",
            generate="clara_cli.families.cervical.phantom:synthesize",
            description=(
                "Sagittally elongated int16 MRI volumes in NRRD: vertebral bodies and discs "
                "along a lordotic cervical curve, posterior arches, spinal canal (CSF, cord), "
                "airway, neck muscle and fat, a smooth multiplicative bias field (for N4), "
                "Rician noise; thick sagittal slices and sometimes flipped axes. --size is "
                "the number of voxels head-feet."
            ),
            default_size=128,
        ),
    ),
)
