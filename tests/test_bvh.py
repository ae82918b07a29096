import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from occlupose.bvh import CHILDREN, read_bvh, write_bvh
from occlupose.skeleton import PARENTS


def fk_sequence(rng, t=40):
    """Poses made by forward kinematics of a rigid skeleton with random joint rotations (camera frame)."""
    base = np.zeros((17, 3))
    from poses import t_pose

    base = t_pose() * np.array([1.0, 1.0, -1.0])  # world z-up -> a y-up-ish frame, any rigid shape works
    out = np.zeros((t, 17, 3))
    rots = Rotation.random(t * 17, random_state=1).as_rotvec().reshape(t, 17, 3) * 0.3
    glob = np.zeros((t, 17, 3, 3))
    for j in range(17):
        r = Rotation.from_rotvec(rots[:, j]).as_matrix()
        if PARENTS[j] < 0:
            glob[:, j] = r
            out[:, j] = rng.normal(size=3)
        else:
            glob[:, j] = glob[:, PARENTS[j]] @ r
            out[:, j] = out[:, PARENTS[j]] + np.einsum("tij,j->ti", glob[:, PARENTS[j]], base[j] - base[PARENTS[j]])
    return out


def test_round_trip_of_a_rigid_skeleton(tmp_path, rng):
    poses = fk_sequence(rng)
    write_bvh(tmp_path / "a.bvh", poses, 30.0)
    back, fps = read_bvh(tmp_path / "a.bvh")
    assert fps == pytest.approx(30.0)
    assert np.abs(back - poses).max() < 1e-3  # metres


def test_round_trip_of_mocap(tmp_path, mocap):
    world = mocap.clips[mocap.keys("test")[0]][:100].astype(np.float64)
    cam = world[..., [0, 2, 1]] * np.array([1.0, -1.0, 1.0])  # z-up world seen by a level camera
    write_bvh(tmp_path / "m.bvh", cam, 50.0)
    back, _ = read_bvh(tmp_path / "m.bvh")
    err = np.linalg.norm(back - cam, axis=-1)
    assert err.mean() < 0.01 and err.max() < 0.05


def test_hierarchy_is_h36m(tmp_path, rng):
    write_bvh(tmp_path / "h.bvh", fk_sequence(rng, 3), 25.0)
    text = (tmp_path / "h.bvh").read_text()
    assert text.count("JOINT") == 16 and text.count("End Site") == sum(not c for c in CHILDREN.values())
    assert "Frames: 3" in text and "Frame Time: 0.040000000" in text


def test_bad_poses(tmp_path):
    with pytest.raises(ValueError, match=r"\(T, 17, 3\)"):
        write_bvh(tmp_path / "x.bvh", np.zeros((3, 16, 3)), 30)
    with pytest.raises(ValueError, match="NaN"):
        write_bvh(tmp_path / "x.bvh", np.full((3, 17, 3), np.nan), 30)
