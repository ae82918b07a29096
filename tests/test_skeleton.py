import numpy as np
import pytest

from occlupose.skeleton import (
    BONES,
    FLIP_PERMUTATION,
    JOINT_NAMES,
    JOINTS_LEFT,
    JOINTS_RIGHT,
    PARENTS,
    SYMMETRIC_BONES,
    J,
    body_axes,
    bone_lengths,
    move_convention_joints,
    scale_bones,
    to_h36m,
)


def test_order_and_parents_match_the_data_readme():
    assert JOINT_NAMES[0] == "hip" and JOINT_NAMES[16] == "r_wrist"
    assert PARENTS.tolist() == [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15]
    assert len(BONES) == 16


def test_symmetric_bones_pair_left_with_right():
    for bl, br in SYMMETRIC_BONES:
        lc, rc = JOINT_NAMES[BONES[bl, 1]], JOINT_NAMES[BONES[br, 1]]
        assert lc.startswith("l_") and rc.startswith("r_") and lc[2:] == rc[2:]


def test_flip_permutation_is_an_involution_swapping_sides():
    assert (FLIP_PERMUTATION[FLIP_PERMUTATION] == np.arange(17)).all()
    assert (FLIP_PERMUTATION[JOINTS_LEFT] == JOINTS_RIGHT).all()
    assert FLIP_PERMUTATION[J["head"]] == J["head"]


def test_bone_lengths():
    p = np.zeros((17, 3))
    p[J["r_hip"]] = [0.3, 0.4, 0]
    assert bone_lengths(p)[0] == pytest.approx(0.5)


def test_scale_bones_moves_the_chain_below_a_scaled_bone(rng):
    p = rng.normal(0, 0.3, (2, 17, 3))
    np.testing.assert_allclose(scale_bones(p, np.ones((2, 16))), p, atol=1e-12)
    s = np.ones((2, 16))
    s[:, J["r_knee"] - 1] = 2.0  # the right thigh (bone 1 ends at the right knee)
    q = scale_bones(p, s)
    thigh = p[:, J["r_knee"]] - p[:, J["r_hip"]]
    # knee and ankle move by the extra thigh; everything off that chain stays
    np.testing.assert_allclose(q[:, J["r_knee"]], p[:, J["r_knee"]] + thigh)
    np.testing.assert_allclose(q[:, J["r_ankle"]], p[:, J["r_ankle"]] + thigh)
    others = [j for j in range(17) if j not in (J["r_knee"], J["r_ankle"])]
    np.testing.assert_allclose(q[:, others], p[:, others], atol=1e-12)
    # any scales: lengths multiply, directions stay, the root stays
    s = rng.uniform(0.5, 1.5, (2, 16))
    q = scale_bones(p, s)
    np.testing.assert_allclose(bone_lengths(q), bone_lengths(p) * s)
    vp, vq = (x[:, BONES[:, 1]] - x[:, BONES[:, 0]] for x in (p, q))
    np.testing.assert_allclose(vq / np.linalg.norm(vq, axis=-1, keepdims=True),
                               vp / np.linalg.norm(vp, axis=-1, keepdims=True), atol=1e-12)
    np.testing.assert_allclose(q[:, 0], p[:, 0])


def _coco(rng):
    kp = rng.uniform(0, 100, (5, 17, 2))
    sc = rng.uniform(0.2, 1, (5, 17))
    return kp, sc


def test_coco_pelvis_is_mid_hip_with_min_confidence(rng):
    kp, sc = _coco(rng)
    out, conf = to_h36m(kp, sc, "coco17")
    np.testing.assert_allclose(out[:, J["hip"]], (kp[:, 11] + kp[:, 12]) / 2)
    np.testing.assert_allclose(conf[:, J["hip"]], np.minimum(sc[:, 11], sc[:, 12]))
    np.testing.assert_allclose(out[:, J["thorax"]], (kp[:, 5] + kp[:, 6]) / 2)
    np.testing.assert_allclose(out[:, J["spine"]], (kp[:, 5] + kp[:, 6] + kp[:, 11] + kp[:, 12]) / 4)
    np.testing.assert_allclose(conf[:, J["spine"]], sc[:, [5, 6, 11, 12]].min(1))
    np.testing.assert_allclose(out[:, J["l_wrist"]], kp[:, 9])
    np.testing.assert_allclose(conf[:, J["r_knee"]], sc[:, 14])


def test_mediapipe_mapping(rng):
    kp = rng.uniform(0, 100, (3, 33, 2))
    sc = rng.uniform(0, 1, (3, 33))
    out, conf = to_h36m(kp, sc, "mediapipe33")
    np.testing.assert_allclose(out[:, J["hip"]], (kp[:, 23] + kp[:, 24]) / 2)
    np.testing.assert_allclose(out[:, J["r_ankle"]], kp[:, 28])
    np.testing.assert_allclose(conf[:, J["neck_nose"]], np.minimum(sc[:, 7], sc[:, 8]))


def test_mapping_errors():
    with pytest.raises(ValueError, match="unknown keypoint layout"):
        to_h36m(np.zeros((1, 17, 2)), np.zeros((1, 17)), "openpose")
    with pytest.raises(ValueError, match="33 keypoints"):
        to_h36m(np.zeros((1, 17, 2)), np.zeros((1, 17)), "mediapipe33")


def _upright() -> np.ndarray:
    """A hand-made upright pose (Z up, facing +y): hips 0.2 m apart, shoulders 0.4 m apart 0.5 m higher."""
    p = np.zeros((17, 3))
    p[J["l_hip"]], p[J["r_hip"]] = (0.1, 0, 0), (-0.1, 0, 0)
    p[J["l_shoulder"]], p[J["r_shoulder"]] = (0.2, 0, 0.5), (-0.2, 0, 0.5)
    p[J["spine"]], p[J["thorax"]] = (0, 0, 0.3), (0, 0, 0.6)
    p[J["neck_nose"]], p[J["head"]] = (0, 0, 0.65), (0, 0, 0.8)
    p[J["l_elbow"]], p[J["l_wrist"]] = (0.25, 0, 0.25), (0.25, 0, 0.0)
    p[J["r_elbow"]], p[J["r_wrist"]] = (-0.25, 0, 0.25), (-0.25, 0, 0.0)
    p[J["l_knee"]], p[J["l_ankle"]] = (0.1, 0, -0.45), (0.1, 0, -0.9)
    p[J["r_knee"]], p[J["r_ankle"]] = (-0.1, 0, -0.45), (-0.1, 0, -0.9)
    return p


def test_body_axes_of_a_hand_made_pose():
    up, forward, length = body_axes(_upright())
    np.testing.assert_allclose(up, [0, 0, 1], atol=1e-12)
    np.testing.assert_allclose(np.abs(forward), [0, 1, 0], atol=1e-12)  # perpendicular to up and to left-right
    assert length == pytest.approx(0.5)


def test_moving_the_convention_joints_hand_computed_and_turning_with_the_body():
    p = _upright()
    shifts = np.zeros((3, 2))
    shifts[0] = (-0.2, 0.0)  # thorax 0.2 trunk lengths (0.1 m) down
    shifts[2] = (0.0, 0.1)  # head 0.05 m along forward
    q = move_convention_joints(p, shifts)
    _, forward, _ = body_axes(p)
    np.testing.assert_allclose(q[J["thorax"]], [0, 0, 0.5], atol=1e-12)
    np.testing.assert_allclose(q[J["spine"]], [0, 0, 0.25], atol=1e-12)  # half the thorax's move
    np.testing.assert_allclose(q[J["head"]], [0, 0, 0.8] + 0.05 * forward, atol=1e-12)
    np.testing.assert_array_equal(q[J["neck_nose"]], p[J["neck_nose"]])
    others = np.setdiff1d(np.arange(17), [J["thorax"], J["spine"], J["head"]])
    np.testing.assert_array_equal(q[others], p[others])
    # a turned and moved body gets the same move, turned: the axes are the body's own
    c, s = np.cos(0.7), np.sin(0.7)
    rot = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ np.array([[1, 0, 0], [0, np.cos(0.3), -np.sin(0.3)],
                                                                 [0, np.sin(0.3), np.cos(0.3)]])
    turned = p @ rot.T + [1.0, 2.0, 0.5]
    np.testing.assert_allclose(move_convention_joints(turned[None], shifts[None])[0], q @ rot.T + [1.0, 2.0, 0.5],
                               atol=1e-12)
