"""The 2D model's own 3D pose (BlazePose's world landmarks): turned back to the image's axes, carried along a
track, and blended into the lifter's depth."""

import numpy as np
import pytest

from occlupose.pipeline import RunConfig, dense_world, world_depth, world_shares
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


def test_world_shares_follow_the_side_groups_and_the_config_takes_one_or_three():
    shares = world_shares((0.5, 0.25, 0.0))
    legs = [1, 2, 3, 4, 5, 6]  # the hips, knees and ankles of the H36M order
    arms = [11, 12, 13, 14, 15, 16]
    trunk = [0, 7, 8, 9, 10]
    np.testing.assert_array_equal(shares[legs], 0.5)
    np.testing.assert_array_equal(shares[arms], 0.25)
    np.testing.assert_array_equal(shares[trunk], 0.0)
    assert RunConfig(world_depth=0.3).world_depth == (0.3, 0.3, 0.3)
    assert RunConfig(world_depth=(1.0, 0.0, 0.5)).world_depth == (1.0, 0.0, 0.5)
    for bad in ((0.5, 0.5), (0.5, 1.5, 0.0), -0.1):
        with pytest.raises(ValueError, match="world_depth"):
            RunConfig(world_depth=bad)


def test_world_depth_per_joint_shares_move_each_group_by_its_own():
    rng = np.random.default_rng(1)
    poses = rng.normal(0, 0.3, (4, 17, 3))
    world = rng.normal(0, 0.3, (4, 17, 3))
    shares = world_shares((1.0, 0.0, 0.5))
    out = world_depth(poses, world, np.arange(4) / 30, shares, RunConfig(smoothing="none"))
    rel = world - world[:, :1]
    np.testing.assert_allclose(out[:, 2, 2], rel[:, 2, 2])  # a knee: all the way
    np.testing.assert_allclose(out[:, 13, 2], poses[:, 13, 2])  # a wrist: not at all
    np.testing.assert_allclose(out[:, 8, 2], 0.5 * (poses[:, 8, 2] + rel[:, 8, 2]))  # the thorax: half


def test_the_world_depth_option_takes_one_share_or_three():
    import argparse

    from occlupose.cli_live import world_depth_shares

    assert world_depth_shares("0.25") == (0.25,)
    assert world_depth_shares("0.5,0.25,0") == (0.5, 0.25, 0.0)
    for bad in ("0.5,0.25", "a", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            world_depth_shares(bad)
