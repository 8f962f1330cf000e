"""SegTHOR thoracic organs at risk (oesophagus 1, heart 2, trachea 3, aorta 4) on CT: 2D
encoder/decoder networks (segmentation_models_pytorch) over axial slices, after an auto crop
around the body centre and a CT window (fixed, or per organ from the HU inside a mask, a
first-stage model's at test time), optionally gated by a per-slice organ classifier.

The 2D machinery is shared with other slice-based families (``clara_cli.families.slice2d``);
what is SegTHOR's own lives here: the thorax phantom, the auto crop, the windowing, the slice
classifier gate, and the leaderboard-style report.
"""

from __future__ import annotations

from clara_cli.families import Family, Phantom

FAMILY = Family(
    name="segthor",
    description="SegTHOR thoracic organs at risk (2D smp models over axial CT slices)",
    phantoms=(
        Phantom(
            name="thorax",
            summary="Thoracic CT phantoms (int16 HU) with oesophagus, heart, trachea, aorta labels.",
            generate="clara_cli.families.segthor.phantom:synthesize",
            description=(
                "Thoracic CT-like int16 volumes in HU at adult scale: body off the centre on "
                "a table, lungs, ribs, spine, a heart, and curved tubular trachea (with "
                "bronchi), oesophagus and aorta (ascending, arch, descending); SegTHOR labels "
                "1 oesophagus, 2 heart, 3 trachea, 4 aorta."
            ),
            default_size=128,
        ),
    ),
    report="clara_cli.families.segthor.report:write_leaderboard",
)
