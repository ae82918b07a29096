"""The 2D model's own 3D pose (BlazePose's world landmarks): turned back to the image's axes, carried along a
track, and blended into the lifter's depth."""

import numpy as np

from occlupose.pipeline import RunConfig, dense_world, world_depth
from occlupose.pose2d import crop_to_image, crop_to_image_axes
from occlupose.tracking import Detection, Track


def test_world_vectors_turn_back_with_the_crop():
    """A crop turned by 90 degrees: its x axis is the image's -y... as crop_to_image maps crop pixels; depth
    stays. Checked against crop_to_image on the difference of two points (a 256 px region of a 256 px crop:
    no scale)."""
    rois = np.array([[100.0, 80.0, 256.0, np.pi / 2], [0.0, 0.0, 256.0, 0.3]])
    v = np.array([[[1.0, 0.0, 0.5]], [[0.2, -0.7, 0.0]]])
    turned = crop_to_image_axes(v, rois)
    np.testing.assert_allclose(turned[0, 0], [0.0, -1.0, 0.5], atol=1e-12)
    a = np.array([[[128.0, 128.0], [128.0 + 20 * 0.2, 128.0 - 20 * 0.7]]] * 2)
    moved = crop_to_image(a, rois, 256)
    np.testing.assert_allclose((moved[1, 1] - moved[1, 0]) / 20, turned[1, 0, :2])
    assert turned[1, 0, 2] == 0.0


def _det(world):
    return Detection(np.array([0.0, 0.0, 10.0, 10.0]), np.zeros((17, 2)), np.ones(17), world=world)


def test_dense_world_holds_through_gaps_and_needs_every_detection():
    w = [np.full((17, 3), float(i)) for i in range(3)]
    track = Track(0, frames=[4, 5, 8], detections=[_det(w[0]), _det(w[1]), _det(w[2])])
    out = dense_world(track)
    np.testing.assert_allclose(out[:, 0, 0], [0, 1, 1, 1, 2])  # frames 6 and 7 hold frame 5's
    track.detections[1] = _det(None)  # a backend without a 3D pose
    assert dense_world(track) is None


def test_world_depth_moves_only_the_depth_by_the_share():
    rng = np.random.default_rng(0)
    poses = rng.normal(0, 0.3, (6, 17, 3))
    poses -= poses[:, :1]
    world = rng.normal(0, 0.3, (6, 17, 3)) + [1.0, 2.0, 3.0]  # hip-centred only after taking its root off
    out = world_depth(poses, world, np.arange(6) / 30, 0.25, RunConfig(smoothing="none"))
    rel = world - world[:, :1]
    np.testing.assert_allclose(out[..., :2], poses[..., :2])
    np.testing.assert_allclose(out[..., 2], 0.75 * poses[..., 2] + 0.25 * rel[..., 2])
    np.testing.assert_allclose(world_depth(poses, world, np.arange(6) / 30, 1.0, RunConfig(smoothing="none"))[..., 2],
                               rel[..., 2])
