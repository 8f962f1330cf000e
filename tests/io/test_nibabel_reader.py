"""The C-order copy behind clara's NIfTI reader: same values, any layout it may meet."""

from __future__ import annotations

import numpy as np
import pytest

from clara_cli.io.nibabel_reader import c_order_copy


@pytest.mark.parametrize("shape", [(7, 5, 3), (4, 1, 6), (1, 9, 2), (6, 11, 1)])
@pytest.mark.parametrize("dtype", [np.int16, np.uint8, np.float32, np.float64])
def test_fortran_volume_becomes_c_contiguous_with_the_same_values(shape, dtype):
    volume = np.asfortranarray(np.arange(np.prod(shape)).reshape(shape).astype(dtype))
    copied = c_order_copy(volume)
    assert copied.flags.c_contiguous and copied.dtype == volume.dtype
    np.testing.assert_array_equal(copied, volume)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(24).reshape(2, 3, 4),  # already C
        np.asfortranarray(np.arange(120).reshape(2, 3, 4, 5)),  # 4D
        np.arange(60).reshape(3, 4, 5)[:, ::2],  # neither C nor F
        np.asfortranarray(np.arange(6).reshape(2, 3)),  # 2D
    ],
)
def test_other_layouts_are_made_contiguous_too(array):
    copied = c_order_copy(array)
    assert copied.flags.c_contiguous
    np.testing.assert_array_equal(copied, array)
