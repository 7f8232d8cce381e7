"""Augmentation kernels: shift_forward, hflip_forward, rotate_forward, noise_forward, mixup_forward —
reference == cpu, plus independent oracles (np.roll-free shifts, np.flip, np.rot90, identities)."""

import numpy as np
import pytest

import kernels

REF, CPU = kernels.get("reference"), kernels.get("cpu")


def batch(n=5, c=2, h=7, w=6, seed=0):
    return np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(np.float32)


@pytest.mark.parametrize("mod", [REF, CPU], ids=["reference", "cpu"])
def test_shift_equals_pad_and_crop(mod):
    x = batch()
    dy, dx = np.array([0, 2, -3, 1, -1]), np.array([0, -2, 1, 5, -6])
    out = np.full_like(x, np.nan)
    mod.shift_forward(out, x, dy, dx)
    for i in range(len(x)):
        pad = np.pad(x[i], ((0, 0), (7, 7), (6, 6)))
        crop = pad[:, 7 - dy[i]:14 - dy[i], 6 - dx[i]:12 - dx[i]]
        np.testing.assert_array_equal(out[i], crop)


@pytest.mark.parametrize("mod", [REF, CPU], ids=["reference", "cpu"])
def test_hflip(mod):
    x = batch()
    flip = np.array([1, 0, 1, 1, 0])
    out = np.empty_like(x)
    mod.hflip_forward(out, x, flip)
    for i in range(len(x)):
        np.testing.assert_array_equal(out[i], x[i, :, :, ::-1] if flip[i] else x[i])


@pytest.mark.parametrize("mod", [REF, CPU], ids=["reference", "cpu"])
def test_rotation_by_right_angles_and_zero(mod):
    x = batch(h=6, w=6)
    out = np.empty_like(x)
    mod.rotate_forward(out, x, np.array([0.0, np.pi / 2, np.pi, -np.pi / 2, 2 * np.pi]))
    np.testing.assert_allclose(out[0], x[0], atol=1e-5)
    np.testing.assert_allclose(out[2], x[2, :, ::-1, ::-1], atol=1e-5)
    np.testing.assert_allclose(out[4], x[4], atol=1e-5)
    # +90 and -90 are the two quarter turns (np.rot90 with k = +-1 over (rows, cols))
    quarter = {1: np.rot90(x[1], 1, axes=(1, 2)), -1: np.rot90(x[1], -1, axes=(1, 2))}
    assert any(np.allclose(out[1], q, atol=1e-5) for q in quarter.values())
    np.testing.assert_allclose(out[3], np.rot90(x[3], 1 if np.allclose(out[1], quarter[-1], atol=1e-5) else -1,
                                                axes=(1, 2)), atol=1e-5)


def test_rotation_cpu_matches_reference_at_odd_angles():
    x = batch(h=9, w=7)
    angles = np.radians([3.0, -12.5, 27.0, 45.0, -90.0])
    a, b = np.empty_like(x), np.empty_like(x)
    REF.rotate_forward(a, x, angles)
    CPU.rotate_forward(b, x, angles)
    np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


def test_noise_and_mixup_cpu_match_reference():
    x = batch()
    z = batch(seed=1)
    a, b = np.empty_like(x), np.empty_like(x)
    REF.noise_forward(a, x, z, 0.3)
    CPU.noise_forward(b, x, z, 0.3)
    np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6)
    y = np.eye(4, dtype=np.float32)[[0, 1, 2, 3, 1]]
    perm = np.array([4, 2, 0, 1, 3])
    outs = []
    for mod in (REF, CPU):
        ox, oy = np.empty_like(x), np.empty_like(y)
        mod.mixup_forward(ox, oy, x, y, perm, 0.7)
        outs.append((ox, oy))
    for r, c in zip(*outs):
        np.testing.assert_allclose(c, r, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(outs[1][1].sum(axis=1), 1.0, rtol=1e-6)  # soft labels stay distributions
