"""The video front end: video files, keypoint flow and Eq. 2 on real pixels, the pipeline with a scripted
detector and 2D backend (exact identities and flags), and `occlupose run` on frames of the example clip."""

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("av")
cv2 = pytest.importorskip("cv2")

from occlupose.config import ModelConfig  # noqa: E402
from occlupose.flow import keypoint_flow  # noqa: E402
from occlupose.lifter import PoseLifter  # noqa: E402
from occlupose.models import TCNConfig  # noqa: E402
from occlupose.occlusion import OcclusionFilterConfig, track_confidence  # noqa: E402
from occlupose.pose2d import Pose2D, boxes_from_rois, rois_from_boxes  # noqa: E402
from occlupose.video import VideoWriter, probe, read_frames  # noqa: E402

EXAMPLE = Path(__file__).parents[1] / "examples" / "street.mp4"


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth random texture (H, W) uint8: something for Lucas-Kanade to lock on to."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (h // 8 + 2, w // 8 + 2)).astype(np.uint8)
    return cv2.resize(small, (w + 16, h + 16), interpolation=cv2.INTER_CUBIC)[8:8 + h, 8:8 + w]


def test_video_round_trip(tmp_path):
    frames = [np.full((48, 63, 3), 20 * i, np.uint8) for i in range(12)]  # odd width is padded
    path = tmp_path / "clip.mp4"
    with VideoWriter(path, 25.0, 63, 48) as w:
        for f in frames:
            w.write(f)
    info = probe(path)
    assert (info.width, info.height, info.fps) == (64, 48, 25.0)
    got = list(read_frames(path, 3, 9))
    assert [i for i, _, _ in got] == list(range(3, 9))
    np.testing.assert_allclose([t for _, t, _ in got], np.arange(3, 9) / 25.0, atol=1e-6)  # timestamps
    assert got[0][2].shape == (48, 64, 3)
    assert abs(float(got[2][2].mean()) - 100) < 6  # frame 5 was grey level 100


def test_video_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError):
        probe(tmp_path / "missing.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 20)
    with pytest.raises(ValueError, match="not a readable video|no video stream"):
        probe(text)
    empty = tmp_path / "empty.avi"
    empty.write_bytes(b"")
    with pytest.raises(ValueError):
        probe(empty)
    with pytest.raises(ValueError, match="folder"):
        probe(tmp_path)


def test_keypoint_flow_measures_a_known_shift():
    a = texture(120, 160)
    shift = np.float32([[1, 0, 3], [0, 1, -2]])  # content moves 3 px right, 2 px up
    b = cv2.warpAffine(a, shift, (160, 120), borderMode=cv2.BORDER_REFLECT)
    pts = np.array([[40.0, 40.0], [80.0, 60.0], [120.0, 80.0], [500.0, 50.0]])
    flow, ok = keypoint_flow(a, b, pts)
    assert ok.tolist() == [True, True, True, False]  # the last point is outside the frame
    np.testing.assert_allclose(flow[:3], [[3, -2]] * 3, atol=0.15)


def test_eq2_on_pixels_where_flow_and_keypoint_disagree():
    """Three keypoints on a textured patch moving 5 px right. Two move with it; one stays put (a detector
    that kept guessing a hidden joint in place): |o - d| = 5 px on a 20 px box, so C* = C exp(-0.25^2/0.02)."""
    a = texture(100, 100, seed=3)
    b = cv2.warpAffine(a, np.float32([[1, 0, 5], [0, 1, 0]]), (100, 100), borderMode=cv2.BORDER_REFLECT)
    kp0 = np.array([[30.0, 40.0], [50.0, 50.0], [60.0, 30.0]])
    kp1 = kp0 + [[5, 0], [5, 0], [0, 0]]
    flow, ok = keypoint_flow(a, b, kp0)
    assert ok.all()
    conf = np.full((2, 3), 0.9)
    c_star = track_confidence(conf, np.stack([kp0, kp1]), np.array([True, True]), np.stack([flow, flow]),
                              np.stack([ok, ok]), np.array([20.0, 20.0]), sigma=0.1)
    expected = 0.9 * np.exp(-(0.25**2) / (2 * 0.1**2))
    np.testing.assert_allclose(c_star[0], [0.9, 0.9, expected], atol=0.01)
    np.testing.assert_allclose(c_star[1], c_star[0])  # the last frame borrows the pair before it
    assert (c_star[0] >= 0.3).tolist() == [True, True, False]  # below b = 0.3: passed on as missing


def test_track_confidence_without_evidence_keeps_the_backend_confidence():
    conf = np.array([[0.8, 0.6], [0.7, 0.5], [0.4, 0.9]])
    kp = np.zeros((3, 2, 2))
    kp[1] += 50  # a huge jump, but frame 1 -> 2 has no successor detection and flow failed at frame 0
    c = track_confidence(conf, kp, np.array([True, True, False]), np.full((3, 2, 2), 50.0),
                         np.array([[False, False], [True, True], [True, True]]), np.full(3, 100.0))
    np.testing.assert_allclose(c, conf)


def test_rois_keep_aspect_ratio():
    rois = rois_from_boxes(np.array([[10, 20, 30, 100]]), margin=1.25)
    np.testing.assert_allclose(rois, [[20, 60, 100, 0]])
    np.testing.assert_allclose(boxes_from_rois(rois), [[-30, 10, 70, 110]])
    # a square turned by 45 degrees needs a box sqrt(2) times wider
    h = 5 * 2**0.5
    np.testing.assert_allclose(boxes_from_rois([[0, 0, 10, np.pi / 4]]), [[-h, -h, h, h]])


# --- the pipeline with a scripted detector and backend -----------------------------------------------------

T = 40
H, W = 240, 320


def figure_positions() -> np.ndarray:
    """(2, T, 2) hip positions of two people walking towards each other."""
    t = np.arange(T)
    a = np.stack([60 + 4 * t, np.full(T, 60.0)], 1)
    b = np.stack([260 - 3 * t, np.full(T, 175.0)], 1)
    return np.stack([a, b])


OFFSETS = np.array([[0, 0], [-8, 0], [-8, 25], [-8, 50], [8, 0], [8, 25], [8, 50], [0, -15], [0, -30], [0, -36],
                    [0, -45], [10, -30], [16, -15], [18, 0], [-10, -30], [-16, -15], [-18, 0]], float)


class ScriptedDetector:
    """Finds both people on every call, except person 1 during frames 15-22 (walking behind something)."""

    def __init__(self):
        self.frame = 0
        self.calls = []

    def __call__(self, frame):
        self.calls.append(self.frame)
        pos = figure_positions()[:, self.frame]
        people = [0] if 15 <= self.frame < 23 else [0, 1]
        boxes = np.array([[pos[p, 0] - 20, pos[p, 1] - 50, pos[p, 0] + 20, pos[p, 1] + 55] for p in people])
        return boxes, np.ones(len(people))


class ScriptedBackend:
    """Gives the true keypoints (H36M layout) of whichever person a region is centred on; person 1 is absent
    during frames 15-22 (presence 0), and its left wrist always has confidence 0.1."""

    layout = "h36m"

    def __init__(self, detector):
        self.detector = detector

    def estimate(self, frame, rois):
        f = self.detector.frame
        pos = figure_positions()[:, f]
        kps, confs, pres, nxt = [], [], [], []
        for roi in rois:
            p = int(np.argmin(np.linalg.norm(pos - roi[:2], axis=1)))
            kp = pos[p] + OFFSETS
            conf = np.full(17, 0.9)
            if p == 1:
                conf[13] = 0.1
            kps.append(kp)
            confs.append(conf)
            pres.append(0.0 if (p == 1 and 15 <= f < 23) else 1.0)
            nxt.append([pos[p, 0], pos[p, 1], 120.0])
        return Pose2D(np.array(kps), np.array(confs), np.array(pres), np.array(nxt))


def follow_frames(monkeypatch, det) -> None:
    """The pipeline's reader, patched so the scripted detector and backend know which frame they see."""
    import occlupose.pipeline as pipeline

    real_read = pipeline.read_frames

    def counting_read(path, start=0, end=None, problems=None):
        for idx, stamp, frame in real_read(path, start, end, problems):
            det.frame = idx
            yield idx, stamp, frame

    monkeypatch.setattr(pipeline, "read_frames", counting_read)


@pytest.fixture
def scripted_video(tmp_path):
    path = tmp_path / "two_people.mp4"
    bg = np.repeat(texture(H, W, seed=5)[..., None], 3, axis=2)
    with VideoWriter(path, 25.0, W, H) as w:
        for _ in range(T):
            w.write(bg)
    return path


def test_pipeline_tracks_identities_bridges_gaps_and_passes_flags(scripted_video, monkeypatch):
    from occlupose.pipeline import RunConfig, run_video

    det = ScriptedDetector()
    backend = ScriptedBackend(det)
    seen_by_lifter = []

    def fake_lift(model, keypoints, confidence, fps=None, device="cpu", times=None, threshold=None, camera=None):
        seen_by_lifter.append((keypoints.copy(), confidence >= threshold, times, camera))
        return np.zeros((len(keypoints), 17, 3), np.float32)

    follow_frames(monkeypatch, det)
    monkeypatch.setattr("occlupose.lifter.lift", fake_lift)
    cfg = RunConfig(detect_every=5, occlusion=OcclusionFilterConfig(), smoothing="none")
    result = run_video(scripted_video, None, cfg, detector=det, backend=backend, progress=False)
    assert det.calls == list(range(0, T, 5))  # the detector only every 5th frame
    assert len(result.tracks) == 2  # the hidden stretch did not split person 1 into two people
    a, b = result.tracks
    assert a.frames.tolist() == list(range(T))
    assert b.frames.tolist() == list(range(T))
    np.testing.assert_allclose(a.keypoints_2d, figure_positions()[0][:, None] + OFFSETS)
    # gone at 15; looked for where they were heading every 2nd frame, found again the moment they reappear (23),
    # not at the next detection (25)
    hidden = (b.frames >= 15) & (b.frames < 23)
    assert not b.reliable[hidden].any()  # missing frames are passed to the lifter as missing
    assert b.reliable[~hidden][:, np.arange(17) != 13].all()
    assert not b.reliable[:, 13].any()  # a low-confidence joint is never trusted
    assert a.reliable.all()  # static background: flow 0 vs keypoints moving 4 px/frame on a 105 px box
    kp_b, rel_b, times, camera = seen_by_lifter[1]
    np.testing.assert_allclose(times, np.arange(T) / 25.0, atol=1e-6)  # the frames' own timestamps
    # the video's camera (the assumed field of view), for a lifter that turns its 3D by the viewing ray
    assert camera == (result.camera.focal, result.camera.cx, result.camera.cy)
    assert camera[1:] == (W / 2, H / 2)
    assert np.array_equal(rel_b, b.reliable)
    assert result.frame_range == (0, T)


def test_detection_on_a_shrunk_frame_and_things_seen_only_at_detections_are_dropped(scripted_video, monkeypatch):
    """The detector sees the frame halved (detect_size) and its boxes come back in full-frame pixels; a thing
    it reports at every detection that the landmark model then loses (a lamp) is not a person."""
    from occlupose.pipeline import RunConfig, track_video

    det = ScriptedDetector()
    lamp = np.array([[280.0, 20.0, 300.0, 60.0]])
    sizes = []

    def shrunk_detector(frame):
        sizes.append(frame.shape[:2])
        boxes, scores = det(frame)
        return np.concatenate([boxes, lamp]) * frame.shape[1] / W, np.ones(len(boxes) + 1)

    class WithLamp(ScriptedBackend):
        def estimate(self, frame, rois):
            rois = np.asarray(rois, float)
            is_lamp = np.linalg.norm(rois[:, :2] - [290, 40], axis=1) < 5
            res = super().estimate(frame, rois)
            followed = det.frame % 5 != 0  # found at a detection, lost when followed
            res.keypoints[is_lamp] = [290, 40] + OFFSETS * 0.3
            res.presence[is_lamp] = 0.0 if followed else 0.9
            res.next_rois[is_lamp] = [290, 40, 40]
            return res

    follow_frames(monkeypatch, det)
    # every crop looked at in every frame (with a landmark budget the lamp, a third thing followed, could be
    # carried a frame by its flow before it is looked at and lost)
    cfg = RunConfig(detect_every=5, detect_size=160, smoothing="none", landmark_budget=0)
    _, tracks, *_ = track_video(scripted_video, cfg, shrunk_detector, WithLamp(det), progress=False)
    assert set(sizes) == {(120, 160)}
    lamp_tracks = [t for t in tracks if np.linalg.norm(t.detections[0].keypoints[0] - [290, 40]) < 5]
    people = [t for t in tracks if t not in lamp_tracks]
    assert sorted(len(t.frames) for t in people) == [T - 8, T]  # person 1 hidden 15-22, looked for, back at 23
    # the lamp pieces were joined into one track, seen in 1 frame of 5: too sparse for a person
    assert len(lamp_tracks) == 1 and len(lamp_tracks[0].frames) == T // 5
    assert len(lamp_tracks[0].frames) < cfg.min_coverage * (lamp_tracks[0].frames[-1] - lamp_tracks[0].frames[0] + 1)


def test_a_thing_the_landmark_model_is_unsure_of_is_not_lifted(scripted_video, monkeypatch):
    """A post on the floor, found at every detection and followed in every frame, but with a presence score of
    0.6 (measured: 0.58 for a post in single/cam02, 0.94 or more for every person), is not a person."""
    from occlupose.pipeline import RunConfig, run_video

    det = ScriptedDetector()

    def with_post(frame):
        boxes, scores = det(frame)
        return np.concatenate([boxes, [[280.0, 20.0, 300.0, 60.0]]]), np.ones(len(boxes) + 1)

    class WithPost(ScriptedBackend):
        def estimate(self, frame, rois):
            rois = np.asarray(rois, float)
            is_post = np.linalg.norm(rois[:, :2] - [290, 40], axis=1) < 5
            res = super().estimate(frame, rois)
            res.keypoints[is_post] = [290, 40] + OFFSETS * 0.3
            res.presence[is_post] = 0.6
            res.next_rois[is_post] = [290, 40, 40]
            return res

    follow_frames(monkeypatch, det)
    monkeypatch.setattr("occlupose.lifter.lift",
                        lambda model, kp, *a, **k: np.zeros((len(kp), 17, 3), np.float32))
    cfg = RunConfig(detect_every=5, smoothing="none", occlusion=OcclusionFilterConfig())
    result = run_video(scripted_video, None, cfg, detector=with_post, backend=WithPost(det), progress=False)
    assert len(result.tracks) == 2 and result.short_tracks == 1
    assert all(np.linalg.norm(t.keypoints_2d[:, 0] - [290, 40], axis=-1).min() > 20 for t in result.tracks)
    kept = run_video(scripted_video, None, RunConfig(detect_every=5, smoothing="none", min_track_presence=0.5,
                                                     occlusion=OcclusionFilterConfig()),
                     detector=with_post, backend=WithPost(det), progress=False)
    assert len(kept.tracks) == 3


def test_no_detection_once_max_people_are_followed(scripted_video, monkeypatch):
    from occlupose.pipeline import RunConfig, track_video

    det = ScriptedDetector()
    follow_frames(monkeypatch, det)
    _, tracks, *_ = track_video(scripted_video, RunConfig(detect_every=5, max_people=1), det, ScriptedBackend(det),
                                progress=False)
    assert det.calls == [0]  # person 0 is followed in every frame: the detector is never needed again
    assert len(tracks) == 1 and len(tracks[0].frames) == T


def test_pipeline_eq2_drops_keypoints_that_slide_over_a_moving_background(tmp_path, monkeypatch):
    """The background (all the pixels there are) moves 20 px/frame while the scripted keypoints stand still:
    on a 95 px box Eq. 2 gives C* = 0.9 exp(-(20/95)^2 / 0.02) = 0.098 < b = 0.3, so every joint is missing."""
    import occlupose.pipeline as pipeline
    from occlupose.pipeline import RunConfig, run_video

    path = tmp_path / "pan.mp4"
    big = np.repeat(texture(H, W + 20 * 12, seed=9)[..., None], 3, axis=2)
    with VideoWriter(path, 25.0, W, H) as w:
        for i in range(12):
            w.write(np.ascontiguousarray(big[:, 20 * (12 - i):20 * (12 - i) + W]))
    det = ScriptedDetector()
    real_read = pipeline.read_frames

    def read_fixed(path, start=0, end=None, problems=None):
        for idx, stamp, frame in real_read(path, start, end, problems):
            det.frame = 0  # people stand still in the image
            yield idx, stamp, frame

    monkeypatch.setattr(pipeline, "read_frames", read_fixed)
    model = PoseLifter(ModelConfig(tcn=TCNConfig(channels=8)))
    result = run_video(path, model, RunConfig(), detector=det, backend=ScriptedBackend(det), progress=False)
    # at b = 0.3 nothing of the first person is ever trusted: no pose is invented for them
    assert result.short_tracks >= 1 and all(t.reliable.any() for t in result.tracks)
    low = RunConfig(occlusion=OcclusionFilterConfig(threshold=0.05))
    result = run_video(path, model, low, detector=det, backend=ScriptedBackend(det), progress=False)
    a = result.tracks[0]
    assert a.poses_3d.shape == (12, 17, 3) and np.isfinite(a.poses_3d).all()
    np.testing.assert_allclose(np.median(a.confidence), 0.098, atol=0.03)
    assert a.reliable.mean() > 0.9  # C* = 0.098 passes b = 0.05


# --- the command line on frames of the bundled example clip ---------------------------------------------------


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    from occlupose.cli import main

    out = tmp_path_factory.mktemp("run") / "out"
    rc = main(["run", str(EXAMPLE), "-o", str(out), "--end", "2", "--quiet"])
    return rc, out


def test_run_writes_consistent_readable_outputs(example_run):
    from occlupose.bvh import read_bvh

    rc, out = example_run
    assert rc == 0
    npz = np.load(out / "poses3d.npz")
    ids = npz["track_ids"].tolist()
    assert len(ids) >= 2  # the clip's first 2 s show several walkers
    doc = json.loads((out / "poses3d.json").read_text())
    assert [t["id"] for t in doc["tracks"]] == ids and doc["fps"] == 10.0
    csv_rows = (out / "poses3d.csv").read_text().strip().splitlines()
    n_frames = 0
    for k, tid in enumerate(ids):
        frames = npz[f"track{tid}_frames"]
        poses = npz[f"track{tid}_poses_3d"]
        assert poses.shape == (len(frames), 17, 3) and np.isfinite(poses).all()
        assert frames.min() >= 0 and frames.max() < 20
        assert npz[f"track{tid}_reliable"].shape == (len(frames), 17)
        assert len(doc["tracks"][k]["frames"]) == len(frames)
        bvh, fps = read_bvh(out / f"track{tid}.bvh")
        assert fps == 10.0 and bvh.shape == poses.shape
        # the BVH's rotations reproduce the joint positions (root-relative)
        err = np.linalg.norm((bvh - bvh[:, :1]) - (poses - poses[:, :1]), axis=-1).mean()
        assert err < 0.03
        n_frames += len(frames)
    assert len(csv_rows) == 1 + 17 * n_frames
    info = probe(out / "render.mp4")
    assert sum(1 for _ in read_frames(out / "render.mp4")) == 20
    assert info.width > info.height  # video plus a 3D panel beside it


def test_run_places_people_in_the_camera_frame(example_run):
    """Each track has a root; the camera-frame joints are the pose placed there (npz, CSV, BVH alike); and
    the two walkers keep their order in depth: whose feet are lower in the image is nearer the camera."""
    from occlupose.bvh import read_bvh

    _, out = example_run
    npz = np.load(out / "poses3d.npz")
    doc = json.loads((out / "poses3d.json").read_text())
    assert doc["camera"]["focal_px"] > 0 and "assumed" in doc["camera"]["note"]
    rows = np.genfromtxt(out / "poses3d.csv", delimiter=",", names=True, dtype=None, encoding=None)
    feet, depth = [], []
    for k, tid in enumerate(npz["track_ids"]):
        root = npz[f"track{tid}_root"]
        poses = npz[f"track{tid}_poses_3d"]
        assert root.shape == (len(poses), 3) and np.isfinite(root).all() and (root[:, 2] > 1).all()
        np.testing.assert_allclose(npz[f"track{tid}_poses_3d_camera"], poses + root[:, None], atol=1e-5)
        np.testing.assert_allclose(doc["tracks"][k]["root"], root, atol=1e-4)
        mine = rows[rows["track"] == tid]
        np.testing.assert_allclose(mine["z_camera"].reshape(-1, 17), (poses + root[:, None])[..., 2], atol=1e-3)
        bvh, _ = read_bvh(out / f"track{tid}.bvh")
        np.testing.assert_allclose(bvh[:, 0], root, atol=0.02)  # the BVH root moves with the person
        kp = npz[f"track{tid}_keypoints_2d"]
        feet.append(kp[:, [3, 6], 1].mean())
        depth.append(root[:, 2].mean())
    assert np.argsort(feet).tolist() == np.argsort(depth)[::-1].tolist()


def test_run_refuses_to_overwrite(example_run, capsys):
    from occlupose.cli import main

    _, out = example_run
    before = (out / "poses3d.npz").stat().st_mtime_ns
    rc = main(["run", str(EXAMPLE), "-o", str(out), "--end", "0.5", "--quiet"])
    assert rc == 2 and "--overwrite" in capsys.readouterr().err
    assert (out / "poses3d.npz").stat().st_mtime_ns == before


def test_run_no_clothes_reaches_the_stitching(tmp_path, monkeypatch):
    """``--no-clothes`` is the switch for telling people apart by what they wear (occlupose.appearance)."""
    from occlupose import pipeline
    from occlupose.cli import main

    seen = []

    def stop(path, model, cfg, **kw):
        seen.append(cfg.stitch.clothes)
        raise ValueError("stopped before any work")

    monkeypatch.setattr(pipeline, "run_video", stop)
    for extra, clothes in (([], True), (["--no-clothes"], False)):
        assert main(["run", str(EXAMPLE), "-o", str(tmp_path / str(clothes)), "--quiet", *extra]) == 2
    assert seen == [True, False]


def test_live_no_join_reaches_the_front_end(tmp_path, monkeypatch):
    """``live --no-join``: the ids shown are the online tracker's own (tracking.OnlineJoiner is off)."""
    from occlupose import live
    from occlupose.cli import main

    seen = []

    def stop(source, model, run, camera, cfg, **kw):
        seen.append(run.join_online)
        raise ValueError("stopped before any work")

    monkeypatch.setattr(live, "run_live", stop)
    for extra, join in (([], True), (["--no-join"], False)):
        assert main(["live", str(EXAMPLE), "-o", str(tmp_path / str(join)), "--no-display", "--quiet", *extra]) == 2
    assert seen == [True, False]


@pytest.mark.parametrize("case", ["missing", "not_video", "zero_frames", "no_person", "unwritable", "bad_start"])
def test_run_bad_input_is_one_clear_line(case, tmp_path, capsys):
    from occlupose.cli import main

    out = tmp_path / "out"
    video = tmp_path / "v.mp4"
    args = []
    if case == "not_video":
        video.write_text("hello\n" * 100)
    elif case == "zero_frames":
        video.write_bytes(b"")
    elif case in ("no_person", "bad_start"):
        with VideoWriter(video, 10.0, 160, 120) as w:
            for _ in range(6):
                w.write(np.full((120, 160, 3), 90, np.uint8))
        if case == "bad_start":
            args = ["--start", "5"]
    elif case == "unwritable":
        video = EXAMPLE
        blocker = tmp_path / "file"
        blocker.write_text("x")
        out = blocker / "out"
    rc = main(["run", str(video), "-o", str(out), "--quiet", *args])
    err = capsys.readouterr().err
    assert rc == (3 if case == "no_person" else 2)
    assert "Traceback" not in err and err.count("\n") == 1, err
    if case == "no_person":
        assert "no person found" in err and not out.exists()  # a failed run leaves nothing behind


def test_hourglass_backend_maps_crop_peaks_back_to_the_image(tmp_path):
    import torch

    from occlupose.hourglass import HourglassConfig, StackedHourglass, heatmap_targets, save_hourglass
    from occlupose.pipeline import make_backend

    cfg = HourglassConfig(stacks=1, features=16, depth=2, input_size=32)
    save_hourglass(tmp_path / "hg.pt", StackedHourglass(cfg))
    backend = make_backend("hourglass", threads=1, weights=str(tmp_path / "hg.pt"))
    assert backend.layout == "h36m" and backend.size == 32
    # every crop's maps peak at heatmap pixel (4, 4) -> input pixel 17.5, with confidence 1 for 10 joints
    peaks = torch.full((2, 17, 2), 4.0)
    seen = torch.arange(17) < 10

    def fake(x):
        return heatmap_targets(peaks[: len(x)], seen.expand(len(x), 17), 8, 1.0)

    backend.model.heatmaps = fake
    rois = np.array([[100.0, 80.0, 64.0], [40.0, 30.0, 16.0]])
    res = backend.estimate(np.zeros((120, 160, 3), np.uint8), rois)
    np.testing.assert_allclose(res.keypoints[0, 0], [100 + (17.5 - 16) * 2, 80 + (17.5 - 16) * 2])
    np.testing.assert_allclose(res.keypoints[1, 0], [40 + 1.5 * 0.5, 30 + 1.5 * 0.5])
    np.testing.assert_allclose(res.confidence[:, :10], 1.0)
    assert (res.confidence[:, 10:] == 0).all()
    assert res.presence.shape == (2,) and (res.presence > 0.9).all()
    # all confident joints at one point: the next region is centred there
    np.testing.assert_allclose(res.next_rois[:, :2], res.keypoints[:, 0])
    with pytest.raises(ValueError, match="--weights"):
        make_backend("hourglass")


def test_run_with_the_hourglass_backend(tmp_path, capsys):
    from occlupose.cli import main
    from occlupose.hourglass import HourglassConfig, StackedHourglass, save_hourglass

    rc = main(["run", str(EXAMPLE), "-o", str(tmp_path / "a"), "--backend", "hourglass", "--quiet"])
    assert rc == 2 and "--weights" in capsys.readouterr().err
    save_hourglass(tmp_path / "hg.pt", StackedHourglass(HourglassConfig(stacks=1, features=16, depth=2,
                                                                        input_size=32)))
    # an untrained network sees nobody (every confidence ~ sigmoid(-4)): a clear "no person", nothing written
    rc = main(["run", str(EXAMPLE), "-o", str(tmp_path / "b"), "--backend", "hourglass", "--weights",
               str(tmp_path / "hg.pt"), "--end", "1", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 3 and "no person found" in err
    rc = main(["run", str(EXAMPLE), "-o", str(tmp_path / "c"), "--backend", "hourglass", "--weights",
               str(EXAMPLE), "--quiet"])
    assert rc == 2 and "hourglass" in capsys.readouterr().err


def test_causal_run_uses_the_causal_lifter_and_refuses_an_offline_one(tmp_path, tiny_checkpoint, capsys):
    from occlupose.cli import main
    from occlupose.lifter import load_checkpoint

    causal = load_checkpoint("causal").model.cfg
    assert causal.tcn.causal and causal.encoding.causal
    out = tmp_path / "live"
    assert main(["run", str(EXAMPLE), "-o", str(out), "--end", "1", "--quiet", "--no-render", "--causal"]) == 0
    assert "model occlupose-causal" in capsys.readouterr().out
    npz = np.load(out / "poses3d.npz")
    assert all(np.isfinite(npz[f"track{t}_root"]).all() for t in npz["track_ids"])
    rc = main(["run", str(EXAMPLE), "-o", str(tmp_path / "x"), "--end", "1", "--quiet", "--causal",
               "--model", str(tiny_checkpoint)])
    assert rc == 2 and "needs a causal lifter" in capsys.readouterr().err
