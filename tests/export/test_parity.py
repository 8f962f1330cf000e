"""The parity check: a bound relative to the output's scale, plus label agreement."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from clara_cli.errors import ClaraError
from clara_cli.export.parity import check_parity, compare_outputs


def _logits(scale: float, shape=(1, 2, 8, 8, 8), seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def test_large_logits_pass_on_a_relative_bound():
    # fp32 rounding at |y| ~ 5e5 is ~0.03: hopeless for an absolute 1e-4, fine relatively.
    want = _logits(1e5)
    got = want + np.float32(0.05)
    parity = compare_outputs([want], [got], tolerance=1e-4)
    assert parity.scale == pytest.approx(np.abs(want).max())
    exact = np.abs(got.astype(np.float64) - want.astype(np.float64)).max()
    assert parity.max_abs_diff == exact > 1e-4  # an absolute 1e-4 would fail it
    assert parity.bound == pytest.approx(1e-4 * parity.scale)
    assert parity.label_agreement == 1.0
    assert parity.passed


def test_small_outputs_keep_the_absolute_floor():
    want = _logits(1e-3)
    parity = compare_outputs([want], [want + np.float32(2e-4)], tolerance=1e-4)
    assert parity.bound == pytest.approx(1e-4)  # scale floored at 1
    assert not parity.passed


def test_flipped_labels_fail_even_within_the_bound():
    want = np.zeros((1, 2, 10, 10, 10), dtype=np.float32)
    want[:, 1] = 1e-6  # channel 1 wins everywhere, by a hair
    got = want.copy()
    got[0, 0, 0, 0, 0] = 2e-6  # one voxel of 1000 flips to channel 0
    parity = compare_outputs([want], [got], tolerance=1e-4)
    assert parity.max_abs_diff <= parity.bound
    assert parity.label_agreement == pytest.approx(0.999)
    assert not parity.passed
    assert "labels agree on 99.9 % of voxels" in parity.describe()


def test_single_channel_labels_are_the_sign_of_the_logit():
    want = np.full((1, 1, 4, 4), 1e-6, dtype=np.float32)
    got = want.copy()
    got[0, 0, 0, 0] = -1e-6
    assert compare_outputs([want], [got]).label_agreement == pytest.approx(15 / 16)


def test_non_finite_output_never_passes():
    want = _logits(1.0)
    got = want.copy()
    got[0, 0, 0, 0, 0] = np.nan
    parity = compare_outputs([want], [got])
    assert parity.max_abs_diff == float("inf")
    assert not parity.passed


def test_outputs_without_spatial_axes_have_no_label_check():
    parity = compare_outputs([np.ones((1, 3), np.float32)], [np.ones((1, 3), np.float32)])
    assert parity.label_agreement is None
    assert parity.passed


def test_shape_mismatch_is_an_error():
    with pytest.raises(ClaraError, match="output 0 has shape"):
        compare_outputs([np.zeros((1, 2, 4, 4))], [np.zeros((1, 2, 4, 8))])


def test_failure_message_states_both_numbers():
    model = torch.nn.Conv3d(1, 2, 1)
    inputs = torch.randn(1, 1, 4, 4, 4)
    with torch.no_grad():
        want = model(inputs).numpy()
    got = want.copy()
    got[0, :, 0, 0, 0] = got[0, ::-1, 0, 0, 0] + 1.0  # off by 1 and swapped at one voxel
    parity = compare_outputs([want], [got])
    with pytest.raises(ClaraError) as raised:
        check_parity(model, inputs, parity, what="test export")
    message = str(raised.value)
    assert f"max abs diff vs eager {parity.max_abs_diff:.3g}" in message
    assert "labels agree on 98.4375 % of voxels" in message  # 63 of 64
    assert "labels agreeing on >= 99.99 %" in message
    assert "the exported file was not written" in message


def _recording_runner(model, seen):
    def run(inputs):
        seen.append(tuple(inputs.shape))
        with torch.no_grad():
            return [model(inputs).numpy()]

    return run


def test_spatial_probe_doubles_else_halves_when_required():
    from clara_cli.export.parity import check_dynamic_axes

    model = torch.nn.Conv3d(1, 2, 1)
    axes = {0: "batch", 2: "s0", 3: "s1", 4: "s2"}
    seen: list[tuple[int, ...]] = []
    small = (1, 1, 8, 8, 8)
    assert check_dynamic_axes(model, _recording_runner(model, seen), small, axes, 1e-4, []) is None
    assert seen == [(2, 1, 8, 8, 8), (1, 1, 16, 16, 16)]
    # 2 x 160^3 exceeds the probe cap: a note by default, the halved size when required.
    big = (1, 1, 160, 160, 160)
    seen.clear()
    notes: list[str] = []
    assert check_dynamic_axes(model, _recording_runner(model, seen), big, axes, 1e-4, notes) is None
    assert seen == [(2, 1, 160, 160, 160)] and "not verified" in notes[0]
    seen.clear()
    run = _recording_runner(model, seen)
    assert check_dynamic_axes(model, run, big, axes, 1e-4, [], require_spatial_probe=True) is None
    assert seen[-1] == (1, 1, 80, 80, 80)


def test_a_spatial_probe_the_export_fails_is_reported():
    from clara_cli.export.parity import check_dynamic_axes

    model = torch.nn.Conv3d(1, 2, 1)

    def fixed_size(inputs):
        if tuple(inputs.shape[2:]) != (8, 8, 8):
            raise RuntimeError("Guard failed: x.size()[2] == 8")
        with torch.no_grad():
            return [model(inputs).numpy()]

    problem = check_dynamic_axes(model, fixed_size, (1, 1, 8, 8, 8), {2: "s0"}, 1e-4, [])
    assert problem is not None and "fails on spatial size [1, 1, 16, 8, 8]" in problem
