"""BraTS brain-tumour segmentation (Clara's `clara_pt_brain_mri_segmentation`): 4 MRI
channels in, 3 nested sigmoid regions out (TC, WT, ET), SegResNet with the optional VAE
regulariser of Myronenko 2018.

What the family brings: its phantoms in the two layouts BraTS data comes in, the VAE
training step (a config `iteration`, :mod:`clara_cli.families.brats.vae`), the network whose
VAE branch runs only in training, the post-transform that makes `clara infer` write BraTS
label maps, and a report of the regions in the model card's order.
"""

from __future__ import annotations

from clara_cli.families import Family, Phantom

_WHAT = (
    "Skull-stripped 4-channel head MRI (T1c, T1, T2, FLAIR; int16, 1 mm) with a nested "
    "glioma labelled as BraTS does: necrotic core 1 inside enhancing rim 4 inside oedema 2. "
    "The rim is bright in T1c, not T1; oedema is bright in T2 and FLAIR."
)

FAMILY = Family(
    name="brats",
    description="brain-tumour MRI segmentation (SegResNet / SegResNetVAE, BraTS TC/WT/ET)",
    phantoms=(
        Phantom(
            name="brats",
            summary="Brain-tumour MRI phantoms, one file per channel (BraTS layout).",
            generate="clara_cli.families.brats.phantom:synthesize",
            description=_WHAT + ' Datalist items: {"image": [t1c, t1, t2, flair], "label": ...}.',
            default_size=128,
        ),
        Phantom(
            name="brats-4d",
            summary="Brain-tumour MRI phantoms, one 4D file per case (Decathlon layout).",
            generate="clara_cli.families.brats.phantom:synthesize_4d",
            description=_WHAT + " The 4 channels are the 4th axis of one file, in that order.",
            default_size=128,
        ),
    ),
    report="clara_cli.families.brats.report:write_region_report",
)
