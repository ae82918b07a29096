"""Where people are: the root solve against hand-built pinhole projections, the camera assumptions, fills."""

import math

import numpy as np
import pytest
from poses import t_pose

from occlupose.camera import project_perspective, rot_z
from occlupose.trajectory import Intrinsics, TrajectoryConfig, intrinsics_for, solve_root, trajectory


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
