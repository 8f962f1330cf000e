"""Multi-channel inputs stored as one 4D file give their first three axes as the grid."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from clara_cli.io.prediction import read_grid, write_prediction


def test_a_4d_file_gives_the_3d_grid_of_its_channels(tmp_path):
    channels = []
    for value in range(4):
        image = sitk.GetImageFromArray(np.full((6, 7, 8), value, dtype=np.int16))
        image.SetSpacing((0.9, 1.1, 2.0))
        image.SetOrigin((4.0, -3.0, 12.5))
        image.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
        channels.append(image)
    path = tmp_path / "case.nii.gz"
    sitk.WriteImage(sitk.JoinSeries(channels), str(path))

    grid = read_grid(path)
    assert grid.size == (8, 7, 6)
    assert np.allclose(grid.spacing, (0.9, 1.1, 2.0))  # NIfTI stores float32
    assert grid.origin == (4.0, -3.0, 12.5)
    assert grid.direction == (-1, 0, 0, 0, -1, 0, 0, 0, 1)

    labels = np.zeros((1, 8, 7, 6), dtype=np.uint8)
    labels[0, 2:5, 3:6, 1:4] = 2
    seg, _ = write_prediction(labels, grid, tmp_path / "case_seg.nii.gz")
    written = sitk.ReadImage(str(seg))
    assert written.GetSize() == (8, 7, 6)
    assert np.allclose(written.GetSpacing(), (0.9, 1.1, 2.0))
    assert np.array_equal(sitk.GetArrayFromImage(written).transpose(2, 1, 0), labels[0])
