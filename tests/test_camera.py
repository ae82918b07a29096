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
    ray_rotations,
    rot_z,
    sample_virtual_rotations,
    seen_along_rays,
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


def test_ray_rotation_hand_cases():
    r = ray_rotations(np.array([[1.0, 0.0], [0.0, 0.0], [0.0, -1.0]]))
    c = np.sqrt(0.5)
    # 45 degrees to the right: a quarter-eighth turn about the camera's y axis
    np.testing.assert_allclose(r[0], [[c, 0, c], [0, 1, 0], [-c, 0, c]], atol=1e-12)
    np.testing.assert_allclose(r[1], np.eye(3), atol=1e-12)  # on the axis: no turn
    np.testing.assert_allclose(r[2] @ [0, 0, 1.0], [0, -c, c], atol=1e-12)  # up in the image (y down)
    np.testing.assert_allclose(r[2] @ [1.0, 0, 0], [1, 0, 0], atol=1e-12)  # the turn is about x alone


def test_ray_rotation_takes_the_axis_onto_the_ray(rng):
    uv = rng.normal(0, 0.5, (5, 7, 2))
    r = ray_rotations(uv)
    ray = np.concatenate([uv, np.ones((5, 7, 1))], -1)
    np.testing.assert_allclose(r[..., 2], ray / np.linalg.norm(ray, axis=-1, keepdims=True), atol=1e-12)
    np.testing.assert_allclose(r @ np.swapaxes(r, -1, -2), np.broadcast_to(np.eye(3), r.shape), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-12)


def test_a_person_off_the_axis_seen_along_the_ray_is_the_turned_person_on_it(mocap):
    """Why the ray frame: 35 degrees off the axis, the 2D seen along the pelvis's ray is exactly the 2D of the
    pose turned back by the ray's rotation and put straight ahead; the raw image is only roughly that (the
    image plane's slant stretches it), and the unturned pose straight ahead is further off still."""
    pose = mocap.clips[mocap.keys("train")[0]][0]
    pose = (pose - pose[:1]) @ LEVEL_CAMERA.T  # (17, 3) camera frame, root-relative
    dist = 6.0
    uv = np.array([np.tan(np.radians(35.0)), 0.2])
    ray = np.array([*uv, 1.0]) / np.linalg.norm([*uv, 1.0])
    rot = ray_rotations(uv)
    off_axis = project_perspective(pose + dist * ray, 1.0)  # (17, 2) focal-length units
    on_axis_turned = project_perspective(pose @ rot + [0, 0, dist], 1.0)  # rot^T p straight ahead
    seen = seen_along_rays(off_axis[None], off_axis[None, 0])[0]
    np.testing.assert_allclose(seen, on_axis_turned, atol=1e-12)

    def shape(xy):  # centred on the root, scale divided out: what the lifter is shown
        xy = xy - xy[:1]
        return xy / np.sqrt((xy**2).sum(-1).mean())

    raw_gap = np.abs(shape(off_axis) - shape(on_axis_turned)).max()
    unturned_gap = np.abs(shape(off_axis) - shape(project_perspective(pose + [0, 0, dist], 1.0))).max()
    assert 0.02 < raw_gap < unturned_gap
