"""edge.model.degrade: every station-camera effect on small arrays, without a model."""
import numpy as np
import pytest

from edge.model import degrade as dg


def _image(h=24, w=32, seed=0):
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    img[:, : w // 2] = (40, 160, 220)
    img[h // 3: 2 * h // 3, w // 4: 3 * w // 4] = (200, 60, 30)
    return np.clip(img.astype(int) + rng.integers(-10, 10, img.shape), 0, 255).astype(np.uint8)


def _same_shape_uint8(out, img):
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert out is not img


@pytest.mark.parametrize("fn", [
    lambda im: dg.small_then_enlarge(im, 8),
    lambda im: dg.perspective_tilt(im, 0.2, side=0),
    lambda im: dg.perspective_tilt(im, 0.2, side=3),
    lambda im: dg.rotate(im, 37.0),
    lambda im: dg.motion_blur(im, 7, 30.0),
    lambda im: dg.lighting(im, 1.8, 0.5, (0.8, 1.0, 1.2)),
    lambda im: dg.sensor_noise(im, 10.0, np.random.default_rng(1)),
    lambda im: dg.occlude(im, 0.4, 1, np.random.default_rng(2)),
    lambda im: dg.jpeg(im, 20),
    lambda im: dg.degrade(im, np.random.default_rng(3)),
    lambda im: dg.degraded_view(im, 5, size=(16, 16)),
])
def test_every_effect_keeps_shape_dtype_and_input(fn):
    img = _image()
    before = img.copy()
    out = fn(img)
    if out.shape[:2] == (16, 16):  # degraded_view resizes to the model input
        assert out.dtype == np.uint8
    else:
        _same_shape_uint8(out, img)
    assert np.array_equal(img, before), "the input must not be modified"


def test_identity_parameters_change_nothing():
    img = _image()
    assert np.array_equal(dg.small_then_enlarge(img, 1000), img)
    assert np.array_equal(dg.motion_blur(img, 1), img)
    assert np.array_equal(dg.lighting(img), img)
    assert np.array_equal(dg.perspective_tilt(img, 0.0), img)
    assert np.array_equal(dg.occlude(img, 0.0, 0, np.random.default_rng(0)), img)


def test_small_then_enlarge_loses_detail():
    img = (np.indices((32, 32)).sum(0) % 2 * 255).astype(np.uint8)[..., None].repeat(3, 2)  # checkerboard
    out = dg.small_then_enlarge(img, 8)
    assert out.std() < img.std() / 4


def test_low_light_darkens_and_warm_tint_shifts_colour():
    img = np.full((8, 8, 3), 128, np.uint8)
    dark = dg.lighting(img, gamma=2.0, gain=0.5)
    assert dark.mean() < 40
    warm = dg.lighting(img, tint=(0.8, 1.0, 1.2))  # BGR: less blue, more red
    assert warm[..., 2].mean() > warm[..., 0].mean() + 40


def test_motion_blur_smears_along_its_direction():
    img = np.zeros((21, 21, 3), np.uint8)
    img[10, 10] = 255
    out = dg.motion_blur(img, 7, angle=0.0)
    assert out[10, 7:14, 0].min() > 0      # smeared horizontally
    assert out[5, 10, 0] == 0 and out[15, 10, 0] == 0


def test_rotation_by_180_flips():
    img = _image(20, 20)
    out = dg.rotate(img, 180.0)
    assert np.abs(out[2:-2, 2:-2].astype(int) - img[::-1, ::-1][2:-2, 2:-2].astype(int)).mean() < 25


def test_noise_has_roughly_the_requested_sigma():
    img = np.full((64, 64, 3), 128, np.uint8)
    out = dg.sensor_noise(img, 10.0, np.random.default_rng(0))
    assert 8 < (out.astype(float) - 128).std() < 14


@pytest.mark.parametrize("side", [0, 1, 2, 3])
def test_occlusion_covers_part_of_the_image_from_one_edge(side):
    img = np.zeros((40, 40, 3), np.uint8)
    out = dg.occlude(img, 0.4, side, np.random.default_rng(side))
    covered = out.max(axis=2) > 0
    assert 0.05 < covered.mean() < 0.6
    # the hand comes in from one border: that border is covered far more than the opposite one
    borders = [covered[:, 0].mean(), covered[0, :].mean(), covered[:, -1].mean(), covered[-1, :].mean()]
    entering = int(np.argmax(borders))
    assert borders[entering] > 0.15
    assert borders[(entering + 2) % 4] < borders[entering] / 2


def test_jpeg_at_low_quality_is_lossy_but_close():
    img = _image(32, 32)
    out = dg.jpeg(img, 15)
    diff = np.abs(out.astype(int) - img.astype(int)).mean()
    assert 0 < diff < 40


def test_degrade_is_deterministic_for_a_seed_and_varies_across_seeds():
    img = _image(48, 48)
    a = dg.degrade(img, np.random.default_rng(7))
    b = dg.degrade(img, np.random.default_rng(7))
    assert np.array_equal(a, b)
    outs = [dg.degrade(img, np.random.default_rng(s)) for s in range(6)]
    assert len({o.tobytes() for o in outs}) > 1
    assert np.array_equal(dg.degraded_view(img, 3), dg.degraded_view(img, 3))


def test_ranges_are_documented_and_ordered():
    for key, (lo, hi) in dg.RANGES.items():
        assert lo <= hi, key
        assert f"| {lo:g} - {hi:g} |" in dg.__doc__, f"range of {key} not documented in the module docstring"
    for key, p in dg.PROBABILITIES.items():
        assert 0.0 < p <= 1.0, key


def test_rejects_non_images():
    with pytest.raises(ValueError):
        dg.rotate(np.zeros((4, 4), np.uint8), 10)
    with pytest.raises(ValueError):
        dg.jpeg(np.zeros((4, 4, 3), np.float32), 50)
