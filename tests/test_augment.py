import numpy as np
import pytest

from occlupose.augment import (
    AugmentConfig,
    Augmenter,
    DetectorConfig,
    OccluderConfig,
    _ar1,
    body_scales,
    swap_mask,
)
from occlupose.data import sample_windows
from occlupose.skeleton import CONVENTION_JOINTS, FLIP_PERMUTATION, SYMMETRIC_BONES, J, body_axes, bone_lengths


@pytest.fixture(scope="module")
def batch(mocap):
    keys = mocap.keys("train")
    poses = np.concatenate([mocap.clips[k] for k in keys])
    lengths = np.array([len(mocap.clips[k]) for k in keys])
    rng = np.random.default_rng(7)
    idx = sample_windows(rng, lengths, 64, 64)
    return Augmenter()(rng, poses[idx])


def test_batch_shapes_and_root(batch):
    assert batch.poses_3d.shape == (64, 64, 17, 3)
    assert batch.gt_2d.shape == batch.det_2d.shape == (64, 64, 17, 2)
    assert batch.conf.shape == batch.occluded.shape == batch.reliable.shape == (64, 64, 17)
    np.testing.assert_allclose(batch.poses_3d[:, :, 0], 0.0, atol=1e-6)
    assert ((batch.conf >= 0) & (batch.conf <= 1)).all()
    np.testing.assert_array_equal(batch.reliable, batch.conf >= 0.3)


def test_detector_model_is_worse_on_occluded_joints(batch):
    err = np.linalg.norm(batch.det_2d - batch.gt_2d, axis=-1)
    assert err[batch.occluded].mean() > 4 * err[~batch.occluded].mean()
    # occluded joints are mostly flagged, visible ones mostly kept
    assert (~batch.reliable[batch.occluded]).mean() > 0.6
    assert batch.reliable[~batch.occluded].mean() > 0.9
    assert 0.1 < batch.occluded.mean() < 0.4


def test_fixed_studio_cameras_without_virtual_views(mocap):
    cfg = AugmentConfig(virtual_views=False)
    rot = Augmenter(cfg).cameras(np.random.default_rng(0), 400)
    distinct = np.unique(np.round(rot.reshape(400, 9), 6), axis=0)
    assert len(distinct) == 4
    # every studio camera looks down by the same tilt: world up leans towards the camera (z < 0)
    up = rot @ np.array([0.0, 0.0, 1.0])
    np.testing.assert_allclose(np.arcsin(-up[:, 2]), cfg.fixed_tilt, atol=1e-12)


def test_no_occluders_and_one_level_camera_give_the_front_view(mocap):
    cfg = AugmentConfig(virtual_views=False, fixed_azimuths_deg=(0.0,), fixed_tilt=0.0, perspective_prob=0.0,
                        occluder=OccluderConfig(prob=0.0))
    clip = mocap.clips[mocap.keys("test")[0]][None, :50]
    b = Augmenter(cfg)(np.random.default_rng(0), clip)
    # level camera: world z (up) is image -y
    world = clip[0] - clip[0][:, :1]
    np.testing.assert_allclose(b.poses_3d[0][..., 1], -world[..., 2], atol=1e-5)
    np.testing.assert_allclose(b.gt_2d[0], b.poses_3d[0][..., :2], atol=1e-6)


def test_virtual_occluder_hides_joints_for_a_while(mocap):
    cfg = AugmentConfig(occluder=OccluderConfig(prob=1.0, min_width=0.6, max_width=0.6, min_height=1.0, max_height=1.0),
                        perspective_prob=0.0)
    clip = np.repeat(mocap.clips[mocap.keys("test")[0]][None, :200], 8, 0)
    b = Augmenter(cfg)(np.random.default_rng(3), clip)
    self_only = Augmenter(AugmentConfig(occluder=OccluderConfig(prob=0.0), perspective_prob=0.0))(
        np.random.default_rng(3), clip)
    assert b.occluded.mean() > self_only.occluded.mean() + 0.05


def test_ar1_noise_statistics():
    x = _ar1(np.random.default_rng(0), (400, 200, 3), 0.7, 2.0)
    assert x.std() == pytest.approx(2.0, rel=0.03)
    c = np.corrcoef(x[:, 1:].ravel(), x[:, :-1].ravel())[0, 1]
    assert c == pytest.approx(0.7, abs=0.02)


def test_same_seed_same_batch(mocap):
    clip = mocap.clips[mocap.keys("test")[1]][None, :80]
    a = Augmenter()(np.random.default_rng(5), clip)
    b = Augmenter()(np.random.default_rng(5), clip)
    np.testing.assert_array_equal(a.det_2d, b.det_2d)
    c = Augmenter(AugmentConfig(detector=DetectorConfig(mirror_prob=1.0)))(np.random.default_rng(5), clip)
    assert not np.array_equal(a.det_2d, c.det_2d)


def test_clean_windows_get_the_true_2d_with_full_confidence(mocap):
    from dataclasses import replace

    world = mocap.clips[mocap.keys("train")[0]][None, :64].repeat(6, 0)
    plain = Augmenter(AugmentConfig())(np.random.default_rng(3), world)
    off = Augmenter(AugmentConfig(clean_prob=0.0))(np.random.default_rng(3), world)
    np.testing.assert_array_equal(plain.det_2d, off.det_2d)  # 0: the random stream is untouched
    clean = Augmenter(replace(AugmentConfig(), clean_prob=1.0))(np.random.default_rng(3), world)
    np.testing.assert_array_equal(clean.det_2d, clean.gt_2d)
    assert (clean.conf == 1.0).all() and clean.reliable.all() and clean.occluded.any()
    assert not np.allclose(plain.det_2d, plain.gt_2d)
    with pytest.raises(ValueError, match="clean_prob"):
        AugmentConfig(clean_prob=1.5)


def test_left_right_swaps_come_in_pairs_and_stretches():
    rng = np.random.default_rng(0)
    det = DetectorConfig(swap_prob=0.5, swap_frames=(5, 10))
    m = swap_mask(rng, 400, 60, det)
    assert m.shape == (400, 60, 17)
    np.testing.assert_array_equal(m, m[:, :, FLIP_PERMUTATION])  # a joint swaps with its twin, both at once
    centre = FLIP_PERMUTATION == np.arange(17)
    assert not m[:, :, centre].any()
    # per window and pair: one stretch, 5-10 frames long (shorter only where it runs past the window's end)
    runs = m[:, :, 1].sum(1)
    assert runs.max() <= 10 and 0.4 < (runs > 0).mean() < 0.6
    with pytest.raises(ValueError, match="swap_frames"):
        DetectorConfig(swap_frames=(5, 2))


def test_body_scales_are_symmetric_clipped_and_log_normal():
    s = body_scales(np.random.default_rng(0), 20000, 0.1)
    assert s.shape == (20000, 16)
    np.testing.assert_array_equal(s[:, SYMMETRIC_BONES[:, 0]], s[:, SYMMETRIC_BONES[:, 1]])
    log = np.log(s)
    assert np.abs(log).max() <= 0.2 + 1e-12
    assert abs(log.mean()) < 0.005 and 0.085 < log.std() < 0.1  # clipping at 2 std trims the spread a little


def test_bone_scaling_gives_each_window_its_own_constant_body(mocap):
    keys = mocap.keys("train")
    clip = mocap.clips[keys[0]][:32]
    world = np.stack([clip, clip])  # (2, 32, 17, 3): the same motion twice
    cfg = AugmentConfig(bone_scale_std=0.2)
    b = Augmenter(cfg)(np.random.default_rng(3), world)
    ratio = bone_lengths(b.poses_3d) / bone_lengths(clip)[None]  # (2, 32, 16)
    np.testing.assert_allclose(ratio, ratio[:, :1].repeat(32, 1), rtol=1e-4)  # one body per window
    assert np.abs(ratio[0, 0] - ratio[1, 0]).max() > 0.01  # two windows, two bodies
    assert np.abs(np.log(ratio)).max() <= 0.4 + 1e-4
    plain = Augmenter(AugmentConfig())(np.random.default_rng(3), world)
    np.testing.assert_allclose(bone_lengths(plain.poses_3d), bone_lengths(clip)[None].repeat(2, 0), rtol=1e-4)


def _convention_offsets(poses: np.ndarray) -> np.ndarray:
    """(..., 17, 3) -> (..., 3, 2): thorax, neck and head from the shoulders' midpoint, (up, forward) trunks."""
    up, forward, length = body_axes(poses)
    mid = 0.5 * (poses[..., J["l_shoulder"], :] + poses[..., J["r_shoulder"], :])
    rel = (poses[..., CONVENTION_JOINTS, :] - mid[..., None, :]) / length[..., None, None]
    return np.stack([(rel * up[..., None, :]).sum(-1), (rel * forward[..., None, :]).sum(-1)], -1)


def test_convention_shifts_give_each_window_its_own_thorax_neck_and_head(mocap):
    clip = mocap.clips[mocap.keys("train")[0]][:32]
    world = np.stack([clip] * 3)  # (3, 32, 17, 3): the same motion three times
    b = Augmenter(AugmentConfig(convention_std=0.2))(np.random.default_rng(5), world)
    moved = _convention_offsets(b.poses_3d.astype(np.float64)) - _convention_offsets(clip)[None]  # (3, 32, 3, 2)
    np.testing.assert_allclose(moved, moved[:, :1].repeat(32, 1), atol=1e-4)  # one convention per window
    assert np.abs(moved[0, 0] - moved[1, 0]).min() > 1e-3  # every joint and axis drawn apart per window
    assert 0.02 < np.abs(moved).mean() < 0.4
    limbs = np.setdiff1d(np.arange(16), [6, 7, 8, 9, 10, 13])  # bones that touch neither spine nor thorax
    np.testing.assert_allclose(bone_lengths(b.poses_3d)[..., limbs], bone_lengths(world)[..., limbs], rtol=1e-4)
    plain = Augmenter(AugmentConfig())(np.random.default_rng(5), world)
    np.testing.assert_allclose(_convention_offsets(plain.poses_3d.astype(np.float64)),
                               _convention_offsets(clip)[None].repeat(3, 0), atol=1e-4)


def test_joints_hidden_by_an_object_get_their_own_guess_model(mocap):
    """Self-occluded guesses are made exact here (no offset, drift or mirroring) so that every wrong guess is
    one hidden by the object: those follow object_offset_sigma and object_conf."""
    exact = dict(visible_sigma=0.0, occluded_offset_sigma=0.0, occluded_drift_sigma=0.0, mirror_prob=0.0,
                 miss_prob=0.0, conf_bias_std=0.0, conf_std=0.0, flow_noise=0.0, occluded_conf=0.1)
    occluder = OccluderConfig(prob=1.0, min_width=0.6, max_width=0.6, min_height=1.0, max_height=1.0)
    clip = np.repeat(mocap.clips[mocap.keys("test")[0]][None, :200], 16, 0)

    def batch(**object_model):
        cfg = AugmentConfig(detector=DetectorConfig(**exact, **object_model), occluder=occluder, perspective_prob=0.0)
        return Augmenter(cfg)(np.random.default_rng(5), clip)

    plain = batch()
    np.testing.assert_allclose(plain.det_2d, plain.gt_2d, atol=1e-6)  # one model for both: all guesses exact
    b = batch(object_offset_sigma=0.3, object_conf=0.6)
    err = np.linalg.norm(b.det_2d - b.gt_2d, axis=-1)
    wrong = err > 1e-6
    assert wrong.any() and not (wrong & ~b.occluded).any()  # only hidden joints are guessed wrong
    assert (wrong.sum() / b.occluded.sum()) > 0.2  # the object hides many a joint the body does not
    # Rayleigh mean of a 2D offset with sigma 0.3 per coordinate, one offset per window and joint
    assert 0.3 < err[wrong].mean() < 0.45
    # their confidence is object_conf (Eq. 2 leaves it while the guess moves with the joint; it drops it in
    # the frame where the guess jumps away from the joint as the object arrives), the rest's 0.1
    assert np.mean(np.abs(b.conf[wrong] - 0.6) < 0.02) > 0.9
    self_hidden = b.occluded & ~wrong
    assert np.median(b.conf[self_hidden]) == pytest.approx(0.1, abs=0.02)


def test_the_hidden_joints_oracle_sees_them_as_visible_ones_with_the_same_draws(mocap):
    world = mocap.clips[mocap.keys("train")[0]][None, :64].repeat(6, 0)
    real = Augmenter(AugmentConfig())(np.random.default_rng(4), world)
    oracle = Augmenter(AugmentConfig(oracle_hidden=True))(np.random.default_rng(4), world)
    np.testing.assert_array_equal(oracle.occluded, real.occluded)  # still marked, for scoring
    hid = real.occluded
    assert hid.any()
    # the visible joints are untouched (det_2d exactly; C* too where the flow check sees no changed neighbour)
    np.testing.assert_array_equal(oracle.det_2d[~hid], real.det_2d[~hid])
    err_real = np.linalg.norm(real.det_2d - real.gt_2d, axis=-1)
    err_oracle = np.linalg.norm(oracle.det_2d - oracle.gt_2d, axis=-1)
    # hidden joints: as close to the truth as the visible ones, not the detector's wrong guesses
    assert err_oracle[hid].mean() < 1.5 * err_real[~hid].mean() < err_real[hid].mean()
    assert oracle.conf[hid].mean() > 0.6 > real.conf[hid].mean()


def test_the_flag_oracle_keeps_the_guesses_and_tells_the_truth_about_them(mocap):
    world = mocap.clips[mocap.keys("train")[0]][None, :64].repeat(6, 0)
    real = Augmenter(AugmentConfig())(np.random.default_rng(4), world)
    oracle = Augmenter(AugmentConfig(oracle_flags=True))(np.random.default_rng(4), world)
    assert real.occluded.any() and (~real.occluded).any()
    # the same draws: the same hidden joints and the same (wrong) guesses for them
    np.testing.assert_array_equal(oracle.occluded, real.occluded)
    np.testing.assert_array_equal(oracle.det_2d, real.det_2d)
    # the confidence is the truth: 0 hidden, 1 seen; so "reliable" is exactly "not occluded"
    np.testing.assert_array_equal(oracle.conf, np.where(real.occluded, 0.0, 1.0).astype(np.float32))
    np.testing.assert_array_equal(oracle.reliable, ~real.occluded)
