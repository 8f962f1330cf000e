"""Networks several benchmarks time, built in one place so that they time the same thing.

Imported by the scripts in this folder (run as `python benchmarks/bench_*.py`, which puts
this folder on sys.path). MONAI is imported inside the functions, as in the scripts.
"""

from __future__ import annotations

import torch


def tutorial_unet() -> torch.nn.Module:
    """The 3D UNet of MONAI's spleen tutorial (16-128 channels, 2 residual units)."""
    from monai.networks.nets import UNet

    return UNet(
        spatial_dims=3,
        in_channels=1,
        out_channels=2,
        channels=(16, 32, 64, 128),
        strides=(2, 2, 2),
        num_res_units=2,
    )


def spleen_ahnet() -> torch.nn.Module:
    """The AHNet of the spleen MMAR (mmars/clara_pt_spleen_ct_segmentation), untrained."""
    from monai.networks.nets import AHNet

    return AHNet(
        spatial_dims=3,
        in_channels=1,
        out_channels=2,
        psp_block_num=2,
        upsample_mode="transpose",
        pretrained=False,
    )
