"""Where people are: the root solve against hand-built pinhole projections, the camera assumptions, fills."""

import math

import numpy as np
import pytest
from poses import t_pose

from occlupose.camera import project_perspective, rot_z
from occlupose.trajectory import (
    Intrinsics,
    TrajectoryConfig,
    intrinsics_for,
    onto_rays,
    onto_weights,
    solve_root,
    trajectory,
)


def _turning_person(rng, t):
    """(T, 17, 3) camera frame (x right, y down, z forward), root-relative: a T-pose turning about the vertical
    and bending its arms a little, frame by frame."""
    world = np.repeat(t_pose()[None], t, 0)
    world[:, 10:17:3, 2] += rng.normal(0, 0.1, (t, 3))
    world = world @ np.swapaxes(rot_z(np.linspace(0, 2.5, t) + rng.uniform(0, 6)), -1, -2)
    return np.stack([world[..., 0], -world[..., 2], world[..., 1]], -1)


def _scene(t=30, seed=0):
    rng = np.random.default_rng(seed)
    poses = _turning_person(rng, t)
    root = np.column_stack([np.linspace(-1, 1.5, t), np.full(t, 0.4), np.linspace(4, 7, t)])
    cam = Intrinsics(1200.0, 960.0, 540.0)
    kp = project_perspective(poses + root[:, None], cam.focal, np.array([cam.cx, cam.cy]))
    return poses, root, kp, cam


def test_exact_projections_give_the_exact_root():
    poses, root, kp, cam = _scene()
    got, solved = solve_root(poses, kp, np.ones(kp.shape[:2]), cam)
    assert solved.all()
    np.testing.assert_allclose(got, root, atol=1e-6)


def test_a_single_joint_by_hand():
    """Two joints at (0, 0, 0) and (0, 1, 0) m, seen at the image centre and 100 px below it with f = 500:
    the person stands 5 m straight ahead."""
    poses = np.zeros((1, 17, 3))
    poses[0, 1] = [0, 1, 0]
    kp = np.full((1, 17, 2), np.nan)
    kp[0, 0] = [320, 240]
    kp[0, 1] = [320, 340]
    w = np.zeros((1, 17))
    w[0, :2] = 1
    got, solved = solve_root(poses, kp, w, Intrinsics(500.0, 320.0, 240.0), min_joints=2)
    assert solved[0]
    np.testing.assert_allclose(got[0], [0, 0, 5], atol=1e-9)


def test_noisy_keypoints_are_weighed_by_confidence_and_gaps_are_filled():
    poses, root, kp, cam = _scene(seed=1)
    rng = np.random.default_rng(2)
    conf = np.ones(kp.shape[:2])
    bad = rng.random(conf.shape) < 0.2
    kp = np.where(bad[..., None], kp + rng.normal(0, 80, kp.shape), kp)  # wild guesses ...
    conf[bad] = 0.1  # ... that the 2D model doubts
    conf[10:13] = 0.0  # three frames where nobody was seen
    times = np.arange(len(kp)) / 30
    got = trajectory(poses, kp, conf, times, cam, TrajectoryConfig(smoothing="none"))
    assert np.isfinite(got).all()
    err = np.linalg.norm(got - root, axis=-1)
    assert err[:10].max() < 1e-5 and err[13:].max() < 1e-5
    np.testing.assert_allclose(got[10:13], root[10:13], atol=1e-5)  # the path is straight: interpolation is exact
    unweighted, _ = solve_root(poses, kp, np.ones_like(conf), cam)
    assert np.nanmean(np.linalg.norm(unweighted - root, axis=-1)) > 0.05


def test_size_sets_distance():
    """A pose predicted 10 % too small is placed 10 % nearer: the lifter's metric scale is the depth cue."""
    poses, root, kp, cam = _scene(seed=3)
    got, _ = solve_root(poses * 0.9, kp, np.ones(kp.shape[:2]), cam)
    np.testing.assert_allclose(got[:, 2], root[:, 2] * 0.9, rtol=0.02)


def test_camera_assumptions():
    cam, said = intrinsics_for(1000, 500, fov_deg=90)
    assert cam.focal == pytest.approx(500) and (cam.cx, cam.cy) == (500, 250) and "given" in said
    cam, said = intrinsics_for(1080, 1920)  # portrait: the assumed angle spans the longer side
    assert cam.focal == pytest.approx(960 / math.tan(math.radians(65) / 2)) and "assumed" in said
    assert intrinsics_for(640, 480, focal=800)[0].focal == 800
    for kwargs in ({"focal": 800, "fov_deg": 60}, {"focal": -1}, {"fov_deg": 200}, {"focal": float("nan")}):
        with pytest.raises(ValueError):
            intrinsics_for(640, 480, **kwargs)


def test_onto_rays_by_hand():
    """f = 1000 px, principal point (500, 500), the root 4 m ahead; a joint 0.2 m right of the root whose
    keypoint says 0.3 m (575 px): half way is 0.25 m, at the same depth. The root's own keypoint agrees with
    it, so nothing else moves."""
    cam = Intrinsics(1000.0, 500.0, 500.0)
    poses = np.zeros((1, 17, 3))
    poses[0, 1] = [0.2, 0.0, 0.0]
    root = np.array([[0.0, 0.0, 4.0]])
    kp = np.full((1, 17, 2), 500.0)
    kp[0, 1] = [575.0, 500.0]
    weights = np.zeros((1, 17))
    weights[0, :2] = 1.0
    moved, placed = onto_rays(poses, root, kp, weights, cam, 0.5)
    np.testing.assert_allclose(moved[0, 1], [0.25, 0.0, 0.0])
    np.testing.assert_allclose(moved[0, 2:], 0.0)
    np.testing.assert_allclose(placed, root)


def test_onto_rays_all_the_way_reprojects_onto_the_keypoints_and_stays_root_relative():
    poses, root, kp, cam = _scene()
    rng = np.random.default_rng(3)
    noisy = kp + rng.normal(0, 15, kp.shape)  # keypoints the lifted 3D does not quite fit
    weights = (rng.uniform(size=kp.shape[:2]) > 0.2).astype(float)  # a fifth of the joints not trusted
    moved, placed = onto_rays(poses, root, noisy, weights, cam, 1.0)
    np.testing.assert_allclose(moved[:, 0], 0.0, atol=1e-12)  # root-relative again
    seen = project_perspective(moved + placed[:, None], cam.focal, np.array([cam.cx, cam.cy]))
    on = weights > 0
    np.testing.assert_allclose(seen[on], noisy[on], atol=1e-6)
    np.testing.assert_allclose((moved + placed[:, None])[..., 2], (poses + root[:, None])[..., 2])  # depths kept
    untouched = ~on
    untouched[:, 0] = False
    np.testing.assert_allclose((moved + placed[:, None])[untouched], (poses + root[:, None])[untouched])


def test_onto_rays_leaves_frames_it_cannot_place():
    poses, root, kp, cam = _scene(t=4)
    root = root.copy()
    root[1] = np.nan  # no root in frame 1
    kp = kp + 20.0
    kp[2, 5] = np.nan  # no keypoint for one joint in frame 2
    moved, placed = onto_rays(poses, root, kp, np.ones(kp.shape[:2]), cam, 0.5)
    np.testing.assert_allclose(moved[1], poses[1])
    assert np.isnan(placed[1]).all()
    np.testing.assert_allclose((moved + placed[:, None])[2, 5], (poses + root[:, None])[2, 5])  # where it was
    assert np.isfinite(moved[[0, 2, 3]]).all() and not np.allclose(moved[0], poses[0])


def test_onto_weights_average_c_star_over_five_frames():
    conf = np.ones((6, 17))
    conf[2, 3] = 0.0  # one frame of one joint not trusted
    conf[5, 4] = np.nan  # no C* at all: not counted
    w = onto_weights(conf)
    np.testing.assert_allclose(w[:, 3], [2 / 3, 3 / 4, 4 / 5, 4 / 5, 3 / 4, 1.0])  # centred, fewer at the ends
    np.testing.assert_allclose(w[:5, 4], 1.0)
    assert w[5, 4] == 0.0
    causal = onto_weights(conf, causal=True)
    np.testing.assert_allclose(causal[:, 3], [1.0, 1.0, 2 / 3, 3 / 4, 4 / 5, 4 / 5])  # this frame and the ones before
