import numpy as np
import pytest
import torch
from poses import t_pose

from occlupose.camera import LEVEL_CAMERA, rot_z, sample_virtual_rotations
from occlupose.cylinder import CylinderConfig, occluders, radii, rotate, visibility
from occlupose.skeleton import JOINT_NAMES, J


def view(pose: np.ndarray, azimuth: float) -> np.ndarray:
    """Camera-frame pose seen by a level camera after turning the subject by ``azimuth``."""
    return rotate(pose, LEVEL_CAMERA @ rot_z(np.array(azimuth)))


def hidden(v: np.ndarray) -> set[str]:
    return {JOINT_NAMES[i] for i in np.where(~v)[0]}


def test_radii_follow_the_paper():
    r = radii(torch.as_tensor(t_pose()), CylinderConfig()).numpy()
    assert r[0] == pytest.approx(0.10)  # head
    assert r[1] == pytest.approx(0.19)  # torso = neck-shoulder distance
    assert np.allclose(r[2:], 0.05)


def test_t_pose_from_the_front_and_back_is_fully_visible():
    assert visibility(view(t_pose(), 0.0)).all()
    assert visibility(view(t_pose(), np.pi)).all()


@pytest.mark.parametrize("azimuth, far", [(np.pi / 2, "l"), (-np.pi / 2, "r")])
def test_t_pose_from_the_side_hides_the_far_arm(azimuth, far):
    h = hidden(visibility(view(t_pose(), azimuth)))
    assert {f"{far}_shoulder", f"{far}_elbow", f"{far}_wrist"} <= h
    near = "r" if far == "l" else "l"
    assert f"{near}_wrist" not in h and f"{near}_elbow" not in h
    assert not {"head", "l_ankle", "r_ankle"} & h


def test_wrist_behind_the_torso():
    p = t_pose()
    p[J["l_elbow"]] = [0.15, 0.15, 0.3]
    p[J["l_wrist"]] = [0.0, 0.3, 0.25]  # straight behind the back (the subject faces -y)
    front, back = visibility(view(p, 0.0)), visibility(view(p, np.pi))
    assert not front[J["l_wrist"]]
    assert back[J["l_wrist"]]
    occ = occluders(view(p, 0.0))
    assert occ[J["l_wrist"], 1]  # by the torso


def test_perspective_far_away_matches_orthographic(mocap, rng):
    poses = mocap.clips[mocap.keys("test")[0]][::10].astype(np.float64)
    cam = rotate(poses, sample_virtual_rotations(len(poses), rng))
    ortho = visibility(cam)
    far = cam + np.array([0, 0, 1000.0])
    persp = visibility(far, perspective=True)
    assert (ortho == persp).mean() > 0.995


def test_soft_labels_tend_to_hard_ones(mocap, rng):
    poses = mocap.clips[mocap.keys("train")[3]][::5].astype(np.float32)
    cam = torch.as_tensor(rotate(poses, sample_virtual_rotations(len(poses), rng).astype(np.float32)))
    hard = visibility(cam).float()
    gaps = [(visibility(cam, CylinderConfig(sharpness=k), soft=True) - hard).abs().mean().item()
            for k in (20.0, 200.0, 2000.0, 20000.0)]
    assert all(a > b for a, b in zip(gaps, gaps[1:]))
    assert gaps[-1] < 0.01


def test_soft_visibility_has_gradients_near_a_cylinder_edge():
    p = t_pose()
    p[J["l_wrist"]] = [0.185, 0.3, 0.25]  # behind the back, just inside the torso's silhouette edge (r = 0.19)
    x = torch.tensor(view(p, 0.0), requires_grad=True)
    v = visibility(x, soft=True)
    assert 0.0 < v[J["l_wrist"]].item() < 0.9
    v[J["l_wrist"]].backward()
    g = x.grad
    assert torch.isfinite(g).all()
    assert g[J["l_wrist"]].abs().sum() > 1.0  # moving the wrist sideways reveals it
    assert g[J["thorax"]].abs().sum() > 0  # and the torso's joints move its silhouette


def test_batched_shapes_and_numpy_torch_agree(rng):
    p = np.broadcast_to(t_pose(), (4, 5, 17, 3)).copy()
    rots = sample_virtual_rotations(20, rng).reshape(4, 5, 3, 3)
    cam = rotate(p, rots)
    v_np = visibility(cam)
    v_t = visibility(torch.as_tensor(cam)).numpy()
    assert v_np.shape == (4, 5, 17) and v_np.dtype == bool
    np.testing.assert_array_equal(v_np, v_t)
    with pytest.raises(ValueError, match="must be"):
        visibility(np.zeros((3, 16, 3)))


def test_occlusion_rate_on_the_training_split(mocap, rng):
    poses = np.concatenate([mocap.clips[k] for k in mocap.keys("train")])[::7]
    cam = rotate(poses, sample_virtual_rotations(len(poses), rng)).astype(np.float32)
    rate = 1 - visibility(cam).mean()
    assert 0.05 < rate < 0.25


@pytest.mark.parametrize("perspective", [False, True])
def test_fast_hard_labels_match_the_brackets_of_eq7(mocap, rng, perspective):
    """visibility's fast hard path against Eq. 7's four brackets (occluders), pair by pair."""
    poses = mocap.clips[mocap.keys("train")[1]][::7].astype(np.float64)
    cam = rotate(poses, sample_virtual_rotations(len(poses), rng))
    if perspective:
        cam = cam + np.array([0, 0, 3.5])
    fast = visibility(cam, perspective=perspective)
    brackets = ~occluders(cam, perspective=perspective).any(-1)
    assert 0.05 < 1 - brackets.mean() < 0.6  # the case is not trivial
    assert (fast != brackets).mean() < 1e-3  # float32 against float64: a rare tie at an edge
