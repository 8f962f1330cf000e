"""DeepGrow 3D (Clara's `clara_pt_deepgrow_3d_annotation`): click-guided annotation of any
organ. The family brings its phantom (`clara synth abdomen`), the click inference
(`clara infer --fg/--bg/--clicks`), the Dice-versus-clicks validation, and the
`DeepgrowStatsHandler` that Clara 4.0 DeepGrow configs name. Training needs nothing of its
own: the configs' `iteration` is MONAI's click `Interaction`.

It claims archives with `CLARA_FAMILY: deepgrow`, or Clara's `PROCESSING_TASK: annotation`.
"""

from __future__ import annotations

from clara_cli.families import Family, Phantom

FAMILY = Family(
    name="deepgrow",
    description="DeepGrow 3D click-guided annotation (BasicUNet, image + 2 guidance channels)",
    phantoms=(
        Phantom(
            name="abdomen",
            summary="Abdominal CT phantoms (int16 HU) with 7 labelled organs, for DeepGrow.",
            generate="clara_cli.families.deepgrow.phantom:synthesize",
            description=(
                "Spleen, kidneys, gallbladder, liver, stomach and aorta of distinct shape and "
                "contrast in CT-like HU (label map 1..7, names in dataset.json), anisotropic "
                "spacing and sometimes flipped axes. Prepare DeepGrow samples with "
                "`clara prepare-dataset --deepgrow --dimensions 3 --pixdim 1 1 3`."
            ),
            default_size=128,
        ),
    ),
    workflows={
        "infer": "clara_cli.families.deepgrow.infer:WORKFLOW",
        "validate": "clara_cli.families.deepgrow.validate:WORKFLOW",
    },
    processing_tasks=("annotation",),
    register="clara_cli.families.deepgrow.register:register",
)
