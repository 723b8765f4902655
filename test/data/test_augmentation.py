"""Augmentation of the observed image (deeprm_ros.data.augmentation) and its place in the batch sampler."""
import numpy as np
import pytest

from deeprm_ros.data.augmentation import Augmentation

ALL_OFF = dict(blur_p=0.0, sharpness_p=0.0, contrast_p=0.0, brightness_p=0.0, color_p=0.0, noise_p=0.0,
               background_p=0.0)


def _image(seed=0, h=60, w=80):
    rng = np.random.default_rng(seed)
    base = np.linspace(40, 200, w)[None, :, None] * np.ones((h, 1, 3))
    return np.clip(base + rng.normal(0, 10, (h, w, 3)), 0, 255).astype(np.uint8)


def test_disabled_or_all_probabilities_zero_leave_the_image_unchanged():
    img = _image()
    assert Augmentation.from_config(None)(img, np.random.default_rng(0)) is img
    out = Augmentation(enabled=True, **ALL_OFF)(img, np.random.default_rng(0))
    assert np.array_equal(out, img)


def test_brightness_scales_every_pixel_by_one_factor_within_its_range():
    img = _image()
    aug = Augmentation(enabled=True, **dict(ALL_OFF, brightness_p=1.0), brightness=(0.5, 0.7))
    out = aug(img, np.random.default_rng(3)).astype(np.float64)
    factor = out.sum() / img.astype(np.float64).sum()
    assert 0.5 - 0.01 <= factor <= 0.7 + 0.01
    np.testing.assert_allclose(out, img * factor, atol=1.0)  # PIL rounds each pixel


def test_blur_lowers_high_frequencies_and_noise_adds_the_drawn_spread():
    img = _image()
    blurred = Augmentation(enabled=True, **dict(ALL_OFF, blur_p=1.0), blur_sigma=(2.0, 2.0))(img, np.random.default_rng(0))
    lap = lambda x: np.abs(np.diff(x.astype(np.float64), axis=1)).mean()  # noqa: E731
    assert lap(blurred) < 0.5 * lap(img)
    flat = np.full((200, 200, 3), 128, np.uint8)
    noisy = Augmentation(enabled=True, **dict(ALL_OFF, noise_p=1.0), noise_std=(8.0, 8.0))(flat, np.random.default_rng(0))
    assert noisy.astype(np.float64).std() == pytest.approx(8.0, rel=0.05)


def test_background_replacement_keeps_the_objects_and_nothing_else():
    img = _image()
    mask = np.zeros(img.shape[:2], bool)
    mask[20:40, 30:50] = True
    out = Augmentation(enabled=True, **dict(ALL_OFF, background_p=1.0))(img, np.random.default_rng(1), mask)
    assert np.array_equal(out[mask], img[mask])
    assert (np.abs(out[~mask].astype(int) - img[~mask]).sum(-1) > 0).mean() > 0.9


def test_same_generator_same_result_and_unknown_options_are_named():
    img = _image()
    aug = Augmentation.from_config({"enabled": True})
    a, b = (aug(img, np.random.default_rng(5), np.zeros(img.shape[:2], bool)) for _ in range(2))
    assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="blurr"):
        Augmentation.from_config({"blurr_p": 0.5})


def test_sampler_draws_the_same_objects_and_poses_with_augmentation_on(tmp_path):
    from deeprm_ros.data.batches import BatchSampler
    from deeprm_ros.data.bop import BopDataset
    from deeprm_ros.data.synthetic import SceneConfig, generate
    from deeprm_ros.ros.resources import default_models_dir

    cfg = SceneConfig(width=160, height=120, focal_range=(140.0, 150.0), objects_range=(2, 3), images_per_scene=10)
    generate(default_models_dir(), tmp_path, "train_pbr", 3, seed=0, cfg=cfg, progress=False)
    ds = BopDataset(tmp_path, "train_pbr")
    args = (ds, 2, 2, 0.0, 15.0, (0.01, 0.01, 0.05), {1, 2, 3, 4})
    plain = BatchSampler(*args).sample(seed=0, rank=0, step=4)
    aug = BatchSampler(*args, augmentation=Augmentation.from_config({"enabled": True, "brightness_p": 1.0})
                       ).sample(seed=0, rank=0, step=4)
    assert np.array_equal(plain.obj_ids, aug.obj_ids) and np.array_equal(plain.T_init, aug.T_init)
    assert not np.array_equal(plain.images, aug.images)
