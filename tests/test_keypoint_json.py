"""Other tools' keypoint JSON: COCO results, MMPose predictions, MediaPipe landmarks -> one person's H36M track."""

import json

import numpy as np
import pytest

from occlupose.cli import main
from occlupose.data import load_input_2d, save_input_2d
from occlupose.keypoint_json import load_keypoint_json
from occlupose.skeleton import to_h36m


def _coco_people(rng, t, k=17):
    return rng.uniform(100, 400, (t, k, 2)), rng.uniform(0.05, 1, (t, k))


def _write(path, doc):
    path.write_text(json.dumps(doc))
    return path


def test_coco_results_pick_the_longest_track_or_the_one_asked_for(tmp_path):
    rng = np.random.default_rng(0)
    a_kp, a_sc = _coco_people(rng, 10)
    b_kp, b_sc = _coco_people(rng, 10)
    items = []
    for f in range(10):
        items.append({"image_id": f, "track_id": 7, "score": 0.9, "category_id": 1,
                      "keypoints": np.column_stack([a_kp[f], a_sc[f]]).ravel().tolist()})
        if f < 4:  # a second person, seen in 4 frames, scoring higher
            items.append({"image_id": f, "track_id": 3, "score": 0.99,
                          "keypoints": np.column_stack([b_kp[f], b_sc[f]]).ravel().tolist()})
    path = _write(tmp_path / "res.json", items)
    got = load_keypoint_json(path, fps=25)
    want_kp, want_sc = to_h36m(a_kp, a_sc, "coco17")
    np.testing.assert_allclose(got.keypoints, want_kp, atol=1e-4)
    np.testing.assert_allclose(got.scores, want_sc, atol=1e-6)
    assert got.fps == 25 and got.layout == "coco17"
    other = load_keypoint_json(path, fps=25, track="3")
    assert len(other.keypoints) == 4
    np.testing.assert_allclose(other.keypoints, to_h36m(b_kp[:4], b_sc[:4], "coco17")[0], atol=1e-4)
    with pytest.raises(ValueError, match="no track '5'"):
        load_keypoint_json(path, fps=25, track="5")


def test_untracked_people_take_the_best_per_frame_and_gaps_are_empty(tmp_path):
    rng = np.random.default_rng(1)
    kp, sc = _coco_people(rng, 2)
    items = [{"image_id": 0, "score": 0.2, "keypoints": np.column_stack([kp[1], sc[1]]).ravel().tolist()},
             {"image_id": 0, "score": 0.8, "keypoints": np.column_stack([kp[0], sc[0]]).ravel().tolist()},
             {"image_id": 3, "score": 0.5, "keypoints": np.column_stack([kp[1], sc[1]]).ravel().tolist()}]
    got = load_keypoint_json(_write(tmp_path / "r.json", {"fps": 30, "annotations": items}))
    assert got.keypoints.shape == (4, 17, 2) and got.fps == 30
    np.testing.assert_allclose(got.keypoints[0], to_h36m(kp[0], sc[0], "coco17")[0], atol=1e-4)
    assert np.all(got.scores[1:3] == 0)  # frames 1 and 2: nobody
    np.testing.assert_allclose(got.keypoints[3], to_h36m(kp[1], sc[1], "coco17")[0], atol=1e-4)


def test_ground_truth_flags_read_as_reliable_or_not(tmp_path):
    kp = np.tile([[200.0, 300.0]], (17, 1)) + np.arange(17)[:, None]
    v = np.array([2, 1, 0] + [2] * 14)
    got = load_keypoint_json(_write(tmp_path / "gt.json", [{"image_id": 0, "keypoints":
                                                           np.column_stack([kp, v]).ravel().tolist()}]), fps=10)
    np.testing.assert_array_equal(got.scores, to_h36m(kp[None], (v > 0)[None].astype(float), "coco17")[1])


def test_mmpose_predictions_read_like_coco_results(tmp_path):
    rng = np.random.default_rng(2)
    kp, sc = _coco_people(rng, 5)
    frames = [{"frame_id": f, "instances": [{"keypoints": kp[f].tolist(), "keypoint_scores": sc[f].tolist()}]}
              for f in range(5)]
    mm = load_keypoint_json(_write(tmp_path / "mm.json", frames), fps=30)
    coco = load_keypoint_json(_write(tmp_path / "c.json", [
        {"image_id": f, "keypoints": np.column_stack([kp[f], sc[f]]).ravel().tolist()} for f in range(5)]), fps=30)
    np.testing.assert_allclose(mm.keypoints, coco.keypoints)
    np.testing.assert_allclose(mm.scores, coco.scores)


def test_mediapipe_landmarks_are_scaled_to_pixels(tmp_path):
    rng = np.random.default_rng(3)
    norm = rng.uniform(0.2, 0.8, (3, 33, 2))
    vis = rng.uniform(0, 1, (3, 33))
    frames = [[{"x": float(x), "y": float(y), "z": 0.0, "visibility": float(v)} for (x, y), v in zip(norm[f], vis[f])]
              for f in range(3)]
    frames.insert(1, [])  # nobody seen in frame 1
    doc = {"width": 1280, "height": 720, "fps": 30, "frames": frames}
    got = load_keypoint_json(_write(tmp_path / "mp.json", doc))
    px = np.insert(norm * [1280, 720], 1, 0, axis=0)
    sc = np.insert(vis, 1, 0, axis=0)
    want_kp, want_sc = to_h36m(px, sc, "mediapipe33")
    np.testing.assert_allclose(got.keypoints, want_kp, atol=1e-3)
    np.testing.assert_allclose(got.scores, want_sc, atol=1e-6)
    assert (got.width, got.height, got.layout) == (1280, 720, "mediapipe33")
    del doc["width"]
    with pytest.raises(ValueError, match="'width'"):
        load_keypoint_json(_write(tmp_path / "mp2.json", doc))


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ("[]", "no keypoints found"),
    (json.dumps([{"image_id": 0, "keypoints": [1.0, 2.0, 1.0] * 12}]), "12 keypoints"),
    (json.dumps([{"keypoints": [1.0, 2.0, 1.0] * 17}]), "frame index"),
    (json.dumps([{"image_id": 0, "keypoints": [1.0, 2.0, 1.0] * 17}]), "--fps"),
])
def test_bad_json_gives_a_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        load_keypoint_json(path)


def test_cli_lifts_json_as_it_lifts_the_same_npz(tmp_path, tiny_checkpoint, capsys):
    rng = np.random.default_rng(4)
    kp, sc = _coco_people(rng, 40)
    src = _write(tmp_path / "person.json", [{"image_id": f, "keypoints": np.column_stack([kp[f], sc[f]]).ravel()
                                             .tolist()} for f in range(40)])
    npz = tmp_path / "person_npz.npz"
    save_input_2d(npz, kp, sc, 640, 480, 30.0, "coco17")
    assert main(["lift", str(src), "-o", str(tmp_path / "a.npz"), "--model", str(tiny_checkpoint)]) == 2
    assert "--fps" in capsys.readouterr().err
    assert main(["lift", str(src), "-o", str(tmp_path / "a.npz"), "--model", str(tiny_checkpoint),
                 "--fps", "30"]) == 0
    assert main(["lift", str(npz), "-o", str(tmp_path / "b.npz"), "--model", str(tiny_checkpoint)]) == 0
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert a["poses_3d"].shape == (40, 17, 3)
    np.testing.assert_allclose(a["poses_3d"], b["poses_3d"], atol=1e-5)
    np.testing.assert_allclose(load_input_2d(npz).keypoints, a["keypoints_2d"], atol=1e-3)
