import numpy as np
import pytest

from occlupose.camera import (
    LEVEL_CAMERA,
    VirtualViewConfig,
    camera_to_world,
    image_coordinates,
    look_at_translation,
    normalize_screen_coordinates,
    project_orthographic,
    project_perspective,
    rot_z,
    sample_virtual_rotations,
    world_to_camera,
)


def test_perspective_projection_of_known_points():
    pts = np.array([[1.0, 2.0, 4.0], [0.0, 0.0, 2.0], [-2.0, 1.0, 1.0]])
    out = project_perspective(pts, focal=np.array([100.0, 200.0]), center=np.array([320.0, 240.0]))
    np.testing.assert_allclose(out, [[345.0, 340.0], [320.0, 240.0], [120.0, 440.0]])
    np.testing.assert_allclose(project_orthographic(pts), pts[:, :2])
    with pytest.raises(ValueError, match="behind the camera"):
        project_perspective(np.array([[0.0, 0.0, -1.0]]), 1.0)


def test_world_camera_round_trip(rng):
    pts = rng.normal(size=(4, 17, 3))
    r = sample_virtual_rotations(4, rng)
    t = rng.normal(size=(4, 3))
    cam = world_to_camera(pts, r, t)
    np.testing.assert_allclose(camera_to_world(cam, r, t), pts, atol=1e-12)


def test_level_camera_maps_z_up_to_image_up():
    up = world_to_camera(np.array([[0.0, 0.0, 1.0]]), LEVEL_CAMERA)
    np.testing.assert_allclose(up, [[0.0, -1.0, 0.0]])  # camera y points down
    fwd = world_to_camera(np.array([[0.0, 1.0, 0.0]]), LEVEL_CAMERA)
    np.testing.assert_allclose(fwd, [[0.0, 0.0, 1.0]])


def test_screen_normalisation_matches_videopose3d_convention():
    w, h = 1000, 500
    px = np.array([[0.0, 0.0], [1000.0, 500.0], [500.0, 250.0]])
    n = normalize_screen_coordinates(px, w, h)
    np.testing.assert_allclose(n, [[-1.0, -0.5], [1.0, 0.5], [0.0, 0.0]])
    np.testing.assert_allclose(image_coordinates(n, w, h), px)


def test_virtual_rotations_follow_sec_4_2(rng):
    cfg = VirtualViewConfig()
    r = sample_virtual_rotations(2000, rng, cfg)
    np.testing.assert_allclose(r @ np.swapaxes(r, 1, 2), np.broadcast_to(np.eye(3), r.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(r), 1.0)
    # the world's vertical stays within tilt + roll (<= 0.4 pi) of the image's up direction
    up = r @ np.array([0.0, 0.0, 1.0])
    angle = np.arccos(np.clip(-up[:, 1], -1, 1))
    assert angle.max() <= 0.4 * np.pi + 1e-9
    assert angle.max() > 0.25 * np.pi  # and the range is used
    # azimuth covers all directions: the world y axis points everywhere in the horizontal plane
    fwd = (r @ np.array([0.0, 1.0, 0.0]))[:, [0, 2]]
    az = np.arctan2(fwd[:, 0], fwd[:, 1])
    assert np.histogram(az, bins=8, range=(-np.pi, np.pi))[0].min() > 150


def test_tilt_is_on_the_0_02_pi_grid(rng):
    # a pure rotation about the vertical keeps a level view; the extra tilt/roll angles lie on the grid
    r = sample_virtual_rotations(500, rng)
    up = r @ np.array([0.0, 0.0, 1.0])
    tilt = np.arctan2(-up[:, 2], np.hypot(up[:, 0], up[:, 1]))  # angle of up out of the image plane
    k = tilt / (0.02 * np.pi)
    np.testing.assert_allclose(k, np.round(k), atol=1e-9)
    assert np.abs(k).max() <= 10


def test_virtual_camera_keeps_the_subject_in_front(mocap, rng):
    key = mocap.keys("test")[0]
    poses = mocap.clips[key][:200].astype(np.float64)
    r = sample_virtual_rotations(200, rng)
    cam = world_to_camera(poses - poses[:, :1], r, look_at_translation(np.full(200, 3.0)))
    assert (cam[..., 2] > 1.0).all()
    px = project_perspective(cam, 1000.0)
    assert np.isfinite(px).all()


def test_rot_z_quarter_turn():
    np.testing.assert_allclose(rot_z(np.array(np.pi / 2)) @ [1.0, 0, 0], [0, 1.0, 0], atol=1e-12)
