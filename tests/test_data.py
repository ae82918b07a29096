import numpy as np
import pytest

from occlupose.data import (
    H36M32_TO_17,
    load_h36m_2d,
    load_h36m_3d,
    load_input_2d,
    load_mocap,
    mocap_from_h36m,
    sample_windows,
    save_h36m_2d,
    save_h36m_3d,
    save_input_2d,
    window_indices,
)
from occlupose.skeleton import J


def test_h36m_3d_round_trip_with_32_joints(tmp_path, rng):
    full = rng.normal(size=(20, 32, 3)).astype(np.float32)
    path = tmp_path / "data_3d_h36m.npz"
    save_h36m_3d(path, {"S9": {"Walking 1": full}, "S1": {"Eating": full[:, H36M32_TO_17]}})
    with pytest.raises(ValueError, match="--allow-pickle"):  # a pickle is read only when trusted
        load_h36m_3d(path)
    data = load_h36m_3d(path, allow_pickle=True)
    np.testing.assert_array_equal(data["S9"]["Walking 1"], full[:, H36M32_TO_17])
    np.testing.assert_array_equal(data["S1"]["Eating"], full[:, H36M32_TO_17])
    m = mocap_from_h36m(data)
    assert m.keys("test") == ["S9/Walking 1"] and m.keys("train") == ["S1/Eating"]


def test_h36m_2d_round_trip(tmp_path, rng):
    cams = [rng.uniform(0, 1000, (15, 17, 2)).astype(np.float32) for _ in range(4)]
    meta = {"layout_name": "h36m", "num_joints": 17,
            "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}
    path = tmp_path / "data_2d_h36m_gt.npz"
    save_h36m_2d(path, {"S11": {"Walking": cams}}, meta)
    pos, m = load_h36m_2d(path, allow_pickle=True)
    assert m["layout_name"] == "h36m"
    for a, b in zip(pos["S11"]["Walking"], cams):
        np.testing.assert_array_equal(a, b)


def test_h36m_bad_files(tmp_path):
    p = tmp_path / "bad3d.npz"
    np.savez(p, something=np.zeros(3))
    with pytest.raises(ValueError, match="bad3d.npz: missing key 'positions_3d'"):
        load_h36m_3d(p, allow_pickle=True)
    save_h36m_3d(p, {"S1": {"A": np.full((4, 17, 3), np.nan)}})
    with pytest.raises(ValueError, match="NaN"):
        load_h36m_3d(p, allow_pickle=True)
    p2 = tmp_path / "bad2d.npz"
    save_h36m_2d(p2, {"S1": {"A": [np.zeros((4, 16, 2))]}}, {"num_joints": 17})
    with pytest.raises(ValueError, match=r"bad2d.npz: .*shape \(T, 17, 2\)"):
        load_h36m_2d(p2, allow_pickle=True)


def test_input_2d_round_trip(tmp_path, rng):
    kp = rng.uniform(0, 640, (30, 17, 2))
    sc = rng.uniform(0, 1, (30, 17))
    p = tmp_path / "clip.npz"
    save_input_2d(p, kp, sc, 640, 480, 30.0)
    d = load_input_2d(p)
    np.testing.assert_allclose(d.keypoints, kp, rtol=1e-6)
    np.testing.assert_allclose(d.scores, sc, rtol=1e-6)
    assert (d.width, d.height, d.fps, d.layout) == (640, 480, 30.0, "h36m")


def test_input_2d_coco_layout(tmp_path, rng):
    kp = rng.uniform(0, 640, (5, 17, 2))
    sc = rng.uniform(0.5, 1, (5, 17))
    p = tmp_path / "coco.npz"
    save_input_2d(p, kp, sc, 640, 480, 25.0, layout="coco17")
    d = load_input_2d(p)
    np.testing.assert_allclose(d.keypoints[:, J["hip"]], (kp[:, 11] + kp[:, 12]) / 2, rtol=1e-5)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"keypoints": None}, r"missing key\(s\) \['keypoints'\]"),
        ({"keypoints": np.zeros((5, 16, 2))}, r"keypoints must be \(T, 17, 2\)"),
        ({"scores": np.zeros((4, 17))}, r"scores must be \(T, 17\)"),
        ({"keypoints": np.full((5, 17, 2), np.nan)}, "keypoints or scores contain NaN"),
        ({"scores": np.full((5, 17), 1.5)}, r"scores must lie in \[0, 1\]"),
        ({"keypoints": np.zeros((0, 17, 2)), "scores": np.zeros((0, 17))}, r"no frames"),
        ({"fps": 0.0}, "fps must be a positive number"),
        ({"layout": "openpose25"}, "unknown layout"),
    ],
)
def test_input_2d_bad_files_name_the_file_and_problem(tmp_path, change, message):
    arrays = {"keypoints": np.zeros((5, 17, 2)), "scores": np.ones((5, 17)), "width": 640, "height": 480, "fps": 30.0}
    arrays.update(change)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    p = tmp_path / "broken.npz"
    np.savez(p, **arrays)
    with pytest.raises(ValueError, match="broken.npz: " + message):
        load_input_2d(p)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz: no such file"):
        load_input_2d(tmp_path / "nope.npz")
    p = tmp_path / "text.npz"
    p.write_text("not a zip")
    with pytest.raises(ValueError, match="text.npz: not a readable .npz"):
        load_input_2d(p)


def test_window_indices_duplicate_clip_edges():
    idx = window_indices(np.array([100, 0]), np.array([5, 3]), np.array([-2, 1]), 6)
    assert idx.tolist() == [[100, 100, 100, 101, 102, 103], [1, 2, 2, 2, 2, 2]]


def test_sample_windows_stay_inside_their_clip(rng):
    lengths = np.array([50, 7, 300])
    idx = sample_windows(rng, lengths, 500, 32)
    assert idx.shape == (500, 32)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    clip = np.searchsorted(offsets, idx[:, :1], side="right") - 1
    assert ((idx >= offsets[clip]) & (idx < offsets[clip + 1])).all()
    assert (np.diff(idx, axis=1) >= 0).all() and (np.diff(idx, axis=1) <= 1).all()


def test_open_mocap_split(mocap):
    assert set(mocap.subjects("test")) == {"S06", "S16", "S131"}
    assert len(mocap.keys("train")) == 75 and len(mocap.keys("test")) == 19
    assert mocap.fps == 50
    first = mocap.clips[mocap.keys("train")[0]]
    assert first.dtype == np.float32 and first.shape[1:] == (17, 3)


def test_load_mocap_rejects_bad_file(tmp_path):
    p = tmp_path / "m.npz"
    np.savez(p, **{"S1/a": np.zeros((3, 17, 3))})
    with pytest.raises(ValueError, match="m.npz: missing key '__meta__'"):
        load_mocap(p)


def test_extra_mocap_adds_training_clips_only(mocap):
    from occlupose.data import EXTRA_MOCAP, extra_mocap_path, load_mocap, merge_mocap

    extra = load_mocap(extra_mocap_path("cmu_extra"))
    assert set(EXTRA_MOCAP) == {"cmu_extra", "hdm05"} and extra_mocap_path("hdm05").is_file()
    merged = merge_mocap(mocap, [extra])
    assert len(merged.keys("train")) == len(mocap.keys("train")) + len(extra.keys("train"))
    assert merged.keys("test") == mocap.keys("test")  # the extra file's S16 clips are not added
    assert "S16" in extra.subjects("test") and not set(extra.keys("test")) & set(merged.clips)
    with pytest.raises(ValueError, match="in both"):
        merge_mocap(mocap, [mocap])
