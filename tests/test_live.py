"""occlupose live: the causal per-frame pipeline, its frame mailbox, its outputs and its command."""

import math
from dataclasses import replace

import numpy as np
import pytest
from badfiles import make_video, street_frames
from poses import t_pose

from occlupose.cli import main
from occlupose.lifter import load_checkpoint
from occlupose.live import FileSource, Frame, LiveConfig, LiveLifter, _Latest, run_live
from occlupose.pipeline import RunConfig
from occlupose.tracking import Detection
from occlupose.trajectory import TrajectoryConfig, intrinsics_for

RUN = RunConfig(smoothing="one_euro", trajectory=TrajectoryConfig(smoothing="one_euro"))


@pytest.fixture(scope="module")
def causal():
    return load_checkpoint("causal").model


def keypoints(step: int, raise_arm_after: int | None = None) -> np.ndarray:
    """(17, 2) px: the T-pose seen from the front, 400 px tall, walking right 2 px per frame; the left wrist
    rises 8 px per frame after ``raise_arm_after``."""
    p = t_pose()
    kp = np.stack([320 + 400 * p[:, 0], 300 - 400 * p[:, 2]], -1) + [2.0 * step, 0.0]
    if raise_arm_after is not None and step > raise_arm_after:
        kp[16, 1] -= 8.0 * (step - raise_arm_after)
    return kp


def detection(kp: np.ndarray, flow: np.ndarray | None = None) -> Detection:
    box = np.concatenate([kp.min(0), kp.max(0)])
    d = Detection(box, kp.copy(), np.full(17, 0.9))
    if flow is not None:
        d.flow, d.flow_ok = flow, np.ones(17, bool)
    return d


def feed(lifter: LiveLifter, kps: list[np.ndarray], track: int = 0, steps=None) -> list:
    """Each frame's detection to ``lifter`` as the front end would: the flow of the frame before set to the
    true motion into this one."""
    shown, before = [], {}
    for step, kp in enumerate(kps):
        if steps is not None and step not in steps:
            lifter.update(step, step, step / 30, {}, before)
            before = {}
            continue
        if track in before:
            prev = before[track]
            prev.flow, prev.flow_ok = kp - prev.keypoints, np.ones(17, bool)
        now = {track: detection(kp)}
        shown.append(lifter.update(step, step, step / 30, now, before))
        before = now
    return shown


def test_mailbox_keeps_the_newest_frame_and_counts_the_rest():
    box = _Latest()
    for i in range(3):
        box.put(Frame(i, i / 30, 0.0, np.zeros((2, 2, 3), np.uint8)))
    assert box.dropped == 2 and box.get(0.1).index == 2
    box.close()
    assert box.get(0.1) is None


def test_eq2_on_the_newest_frame_uses_the_motion_into_it(causal):
    lifter = LiveLifter(causal, RUN, intrinsics_for(640, 480)[0], LiveConfig(min_frames=1))
    a, b = keypoints(0), keypoints(1)
    b[13] += [30.0, 0.0]  # the left elbow jumps 30 px right, while the flow at it says it moved like the body
    first = detection(a)
    lifter.update(0, 0, 0.0, {0: first}, {})
    first.flow, first.flow_ok = keypoints(1) - a, np.ones(17, bool)
    lifter.update(1, 1, 1 / 30, {0: detection(b)}, {0: first})
    conf = lifter.people[0].rows[-1][4]
    size = float(np.ptp(b, 0).max())
    sigma = causal.cfg.encoding.filter.sigma
    assert conf[13] == pytest.approx(0.9 * math.exp(-((30 / size) ** 2) / (2 * sigma**2)), rel=1e-9)
    others = np.delete(np.arange(17), 13)
    np.testing.assert_allclose(conf[others], 0.9)  # flow agrees with the motion: C* = C
    assert lifter.people[0].rows[0][4] == pytest.approx(np.full(17, 0.9))  # the first frame has no evidence


def test_live_lifting_never_looks_ahead(causal):
    camera = intrinsics_for(640, 480)[0]
    still = [keypoints(t) for t in range(40)]
    moving = [keypoints(t, raise_arm_after=25) for t in range(40)]
    a, b = LiveLifter(causal, RUN, camera), LiveLifter(causal, RUN, camera)
    feed(a, still)
    feed(b, moving)
    ra, rb = a.people[0].rows, b.people[0].rows
    for t in range(26):  # the same past: the same pose, keypoints, confidence and root, to the bit
        for k in (2, 3, 4, 6):
            np.testing.assert_array_equal(ra[t][k], rb[t][k])
    assert np.abs(ra[39][2] - rb[39][2]).max() > 0.01  # and a different future is seen once it comes


def test_a_lifter_along_the_viewing_ray_is_given_the_camera(causal, monkeypatch):
    """Each person's stream gets the live camera (the stream's own test checks it then equals `lift` with that
    camera); the same weights read as a camera-frame lifter give another pose for a person off the centre."""
    camera = intrinsics_for(640, 480)[0]
    kps = [keypoints(t) + [200.0, 0.0] for t in range(12)]
    monkeypatch.setattr(causal, "cfg", replace(causal.cfg, ray_frame=False, ray_input=False))
    plain = LiveLifter(causal, RUN, camera, LiveConfig(min_frames=1))
    feed(plain, kps)
    monkeypatch.setattr(causal, "cfg", replace(causal.cfg, ray_frame=True, ray_input=True))
    along = LiveLifter(causal, RUN, camera, LiveConfig(min_frames=1))
    feed(along, kps)
    assert along.people[0].stream.camera == (camera.focal, camera.cx, camera.cy)
    assert plain.people[0].stream.camera is None
    assert np.abs(along.people[0].rows[-1][2] - plain.people[0].rows[-1][2]).max() > 0.01


def test_tracks_keep_people_seen_long_enough_with_gaps_as_nan(causal):
    lifter = LiveLifter(causal, RUN, intrinsics_for(640, 480)[0], LiveConfig(min_frames=5))
    kps = [keypoints(t) for t in range(30)]
    shown = feed(lifter, kps, steps=set(range(30)) - {10, 11})  # not seen in frames 10 and 11
    assert [len(s) for s in shown[:6]] == [0, 0, 0, 0, 1, 1]  # drawn from its 5th frame on
    feed(lifter, [keypoints(t) for t in range(3)], track=7)  # a thing seen in 3 frames: never kept
    tracks = lifter.tracks(processed=30)
    assert len(tracks) == 1
    t = tracks[0]
    assert t.track_id == 0 and list(t.frames) == [f for f in range(30) if f not in (10, 11)]
    assert t.poses_3d.shape == (28, 17, 3) and np.isfinite(t.poses_3d).all()
    assert np.isfinite(t.root).all() and (t.root[:, 2] > 0).all()  # in front of the camera
    # the lifter was fed the two frames it missed as missing (NaN) frames: its 50 fps grid went on unbroken
    stream = lifter.people[0].stream
    assert stream.count == int(np.floor(29 / 30 * 50 + 1e-6)) + 1


def test_run_live_on_a_file_every_frame(causal, tmp_path):
    video = make_video(tmp_path / "clip.mp4", street_frames(16), fps=10.0)
    pictures = []
    source = FileSource(video, every_frame=True)
    camera = intrinsics_for(source.width, source.height)[0]
    result = run_live(source, causal, RUN, camera, LiveConfig(min_frames=3),
                      record=lambda pic, t: pictures.append((pic.shape, t)))
    assert result.processed == 16 and result.dropped == 0 and len(result.latency) == 16
    assert (result.latency > 0).all() and result.fps == pytest.approx(10.0)
    assert [t for _, t in pictures] == pytest.approx([i / 10 for i in range(16)])
    assert {s for s, _ in pictures} == {(576, 768 + 576, 3)}
    assert result.tracks, "the street clip has people in it"
    for t in result.tracks:
        assert set(t.frames) <= set(range(16)) and np.isfinite(t.poses_3d).all()
    s = result.summary()
    assert s["frames_processed"] == 16 and s["latency_ms"]["median"] > 0


def test_live_command_writes_results_and_refuses_what_it_should(tmp_path, tiny_checkpoint, capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    video = make_video(tmp_path / "clip.mp4", street_frames(12), fps=10.0)
    out = tmp_path / "out"
    assert main(["live", str(video), "-o", str(out), "--every-frame", "--record", "--quiet"]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"poses3d.npz", "poses3d.json", "poses3d.csv", "live.json", "live.mp4"} <= names
    assert "frames/s" in capsys.readouterr().out
    with np.load(out / "poses3d.npz") as z:
        assert z["track0_poses_3d"].shape[1:] == (17, 3)
    assert main(["live", str(video), "-o", str(out), "--every-frame"]) == 2  # results exist: not overwritten
    assert "--overwrite" in capsys.readouterr().err
    assert main(["live", str(video), "-o", str(tmp_path / "o2"), "--model", str(tiny_checkpoint)]) == 2
    assert "causal" in capsys.readouterr().err
    assert main(["live", str(video), "-o", str(tmp_path / "o3"), "--display"]) == 2
    assert "no screen" in capsys.readouterr().err
    assert main(["live", str(tmp_path / "none.mp4"), "-o", str(tmp_path / "o4")]) == 2
    assert not (tmp_path / "o2").exists() and not (tmp_path / "o3").exists()


def test_a_file_at_its_own_rate_drops_what_processing_cannot_keep_up_with(causal, tmp_path):
    """Played at 20 frames/s while each picture takes 0.2 s to show: most frames are dropped, the ones shown
    are in order, and a False from ``show`` stops it."""
    import time

    video = make_video(tmp_path / "clip.mp4", street_frames(30), fps=20.0)
    source = FileSource(video)
    seen = []

    def show(picture) -> bool:
        time.sleep(0.2)
        seen.append(picture)
        return len(seen) < 4

    result = run_live(source, causal, RUN, intrinsics_for(source.width, source.height)[0], show=show)
    assert result.processed == 4 and len(seen) == 4
    assert result.dropped >= 6  # ~0.8 s of a 20 frames/s file went by: ~16 frames offered, 4 taken
    assert (result.latency < 1.0).all()  # a dropped frame never makes a later one late
    assert result.wall_seconds < 5.0  # and it stops at once (the front end's thread does not wait to hand over)


def test_a_person_with_nothing_trusted_yet_is_not_lifted_and_nothing_fails(causal):
    """The first frames of a person with every confidence below b (BlazePose unsure of a crop): no pose for
    them, no error; once joints are trusted the person is lifted and kept from there."""
    lifter = LiveLifter(causal, RUN, intrinsics_for(640, 480)[0], LiveConfig(min_frames=1))
    for step in range(8):
        d = detection(keypoints(step))
        if step < 3:
            d.scores = np.full(17, 0.1)
        lifter.update(step, step, step / 30, {0: d}, {})
    (track,) = lifter.tracks(processed=8)
    assert list(track.frames) == [3, 4, 5, 6, 7] and np.isfinite(track.poses_3d).all()
    never = LiveLifter(causal, RUN, intrinsics_for(640, 480)[0], LiveConfig(min_frames=1))
    for step in range(4):
        d = detection(keypoints(step))
        d.scores = np.full(17, 0.1)
        assert never.update(step, step, step / 30, {0: d}, {}) == []
    assert never.tracks(processed=4) == []


class _Walker:
    """One person walking right 4 px a frame, hidden (no detection, no landmarks) in frames 12-17; the detector
    sees them only where they are visible. Keypoints: a 100 px figure around the current position."""

    layout = "h36m"

    def __init__(self):
        self.frame = 0

    def where(self) -> np.ndarray:
        return np.array([100.0 + 4 * self.frame, 120.0])

    def visible(self) -> bool:
        return not 12 <= self.frame < 18

    def __call__(self, image):  # the person detector
        c = self.where()
        if not self.visible():
            return np.zeros((0, 4)), np.zeros(0)
        return np.array([[c[0] - 20, c[1] - 50, c[0] + 20, c[1] + 50]]), np.ones(1)

    def estimate(self, image, rois):  # the landmark model: finds the person if the crop is centred near them
        from occlupose.pose2d import Pose2D, as_rois

        rois = as_rois(rois)
        c = self.where()
        p = t_pose()
        kp = c + 100 * np.stack([p[:, 0], -p[:, 2]], -1)
        near = np.linalg.norm(rois[:, :2] - c, axis=1) < 40
        pres = np.where(near & self.visible(), 1.0, 0.0)
        nxt = np.tile([c[0] + 4, c[1], 130.0, 0.0], (len(rois), 1))
        return Pose2D(np.repeat(kp[None], len(rois), 0), np.full((len(rois), 17), 0.9), pres, nxt)


@pytest.mark.parametrize("search", [1.0, 0.0])
def test_a_lost_person_is_looked_for_where_they_were_heading(search):
    from occlupose.pipeline import FrameTracker

    walker = _Walker()
    front = FrameTracker(RunConfig(search_after_loss=search, search_every=2, search_min_frames=5,
                                   detect_every=10), detector=walker, backend=walker)
    found = {}
    for f in range(30):
        walker.frame = f
        for tid in front.step(f, np.zeros((240, 320, 3), np.uint8), f / 25):
            found.setdefault(f, []).append(tid)
    assert all(found[f] == [0] for f in range(12)) and not any(f in found for f in range(12, 18))
    if search:  # looked for every 2nd frame along the way they went: back, with their id, when they reappear
        assert found[18] == [0] and all(found[f] == [0] for f in range(18, 30))
    else:  # only the next detection finds them again
        assert 18 not in found and 19 not in found and found[20] == [0]


class _PanelWalker(_Walker):
    """The walker going behind a panel: in frame 11, the last before they are hidden, the landmark model sees
    only their top (a figure 0.4 of their size, 30 px higher) and moves its next crop there."""

    def estimate(self, image, rois):
        out = super().estimate(image, rois)
        if self.frame == 11:
            c = self.where()
            top = c + np.array([0.0, -30.0])
            out.keypoints[:] = top + 0.4 * (out.keypoints - c)
            out.presence[:] = np.where(out.presence > 0, 0.6, 0.0)
            out.next_rois[:] = [top[0] + 4, top[1] - 30, 60.0, 0.0]
        return out


def test_a_lost_person_is_looked_for_from_where_they_were_last_seen_whole():
    """Measured on the real-video view multi/cam02 with a panel over a man standing still: in the frame before he
    was hidden the landmark model saw a piece of him (0.43 of his size), and a search moving on from that frame's
    crop at that frame's motion went 90 px a frame away; he was found again only at the next detection."""
    from occlupose.pipeline import FrameTracker
    from occlupose.tracking import stitch

    walker = _PanelWalker()
    front = FrameTracker(RunConfig(search_every=2, search_min_frames=5, detect_every=10), detector=walker,
                         backend=walker)
    found = {}
    for f in range(30):
        walker.frame = f
        for tid in front.step(f, np.zeros((240, 320, 3), np.uint8), f / 25):
            found.setdefault(f, []).append(tid)
    assert found[11] == [0] and not any(f in found for f in range(12, 18))
    assert found[18] == [0]  # found the moment they reappear, shown with their id
    # the tracker, predicting from the piece seen in frame 11, starts a new track; the stitching joins them after
    # the fact, live use's joining at once
    assert len(front.tracker.tracks) == 2
    (one,) = stitch(front.tracker.tracks, fps=25)
    assert one.frames == list(range(12)) + list(range(18, 30))
    (live,) = front.online_tracks()
    assert live.frames == one.frames and live.track_id == 0


def test_live_ids_without_joining_are_the_online_trackers():
    from occlupose.pipeline import FrameTracker

    walker = _PanelWalker()
    front = FrameTracker(RunConfig(search_every=2, search_min_frames=5, detect_every=10, join_online=False),
                         detector=walker, backend=walker)
    found = {}
    for f in range(30):
        walker.frame = f
        for tid in front.step(f, np.zeros((240, 320, 3), np.uint8), f / 25):
            found.setdefault(f, []).append(tid)
    assert found[11] == [0] and found[18] == [1] and len(front.online_tracks()) == 2


class _Crowd:
    """Four people 100 px tall (144 px from hand to hand) side by side, apart, all walking right 4 px a frame
    over a textured floor that moves with them (so optical flow measures 4 px at their keypoints). The landmark
    model finds whoever its crop is centred near and records whom it looked at in each frame."""

    layout = "h36m"
    starts = np.array([[80.0, 120.0], [240.0, 120.0], [400.0, 120.0], [560.0, 120.0]])

    def __init__(self):
        import cv2

        rng = np.random.default_rng(0)
        self.floor = cv2.GaussianBlur(rng.integers(0, 255, (240, 800, 3), np.uint8), (7, 7), 2)
        self.frame = 0
        self.looked: dict[int, list[int]] = {}

    def where(self) -> np.ndarray:
        return self.starts + [4.0 * self.frame, 0.0]

    def image(self) -> np.ndarray:
        return np.ascontiguousarray(np.roll(self.floor, 4 * self.frame, axis=1))

    def figure(self, centre: np.ndarray) -> np.ndarray:
        p = t_pose()
        return centre + 100 * np.stack([p[:, 0], -p[:, 2]], -1)

    def __call__(self, image):  # the person detector: their boxes
        kp = np.stack([self.figure(c) for c in self.where()])
        return np.concatenate([kp.min(1), kp.max(1)], 1), np.ones(len(kp))

    def estimate(self, image, rois):
        from occlupose.pose2d import Pose2D, as_rois

        rois = as_rois(rois)
        c = self.where()
        who = np.linalg.norm(rois[:, None, :2] - c[None], axis=-1).argmin(1)
        self.looked.setdefault(self.frame, []).extend(int(w) for w in who)
        kp = np.stack([self.figure(c[w]) for w in who])
        nxt = np.concatenate([c[who] + [4.0, 0.0], np.tile([130.0, 0.0], (len(rois), 1))], 1)
        return Pose2D(kp, np.full((len(rois), 17), 0.9), np.ones(len(rois)), nxt)


@pytest.mark.parametrize("budget", [0.0, 3.0, 2.0, 1.0])
def test_a_landmark_budget_looks_at_the_people_in_turn_and_carries_the_others_by_their_flow(budget):
    """With more people followed than ``landmark_budget`` passes a frame, the ones looked at longest ago get the
    passes and the others' keypoints move on by the optical flow measured at them; nobody is lost or renumbered."""
    from occlupose.pipeline import FrameTracker

    crowd = _Crowd()
    front = FrameTracker(RunConfig(landmark_budget=budget, detect_every=10), detector=crowd, backend=crowd)
    for f in range(20):
        crowd.frame = f
        people = front.step(f, crowd.image(), f / 25)
        assert sorted(people) == [0, 1, 2, 3]
        truth = crowd.where()
        for tid, d in people.items():  # ids follow the people (numbered left to right in frame 0)
            assert np.abs(d.keypoints - crowd.figure(truth[tid])).max() < 1.0
    looked = crowd.looked
    assert sorted(looked[0]) == [0, 1, 2, 3]  # the first frame: every new person is looked at
    # never carried two frames in a row (MAX_CARRIED): a budget of 1 rises to 2 passes a frame for 4 people
    per_frame = 4 if budget == 0 else max(int(budget), 2)
    for f in range(1, 20):
        assert len(looked[f]) == per_frame, f
    for person in range(4):  # each in turn: a share per_frame / 4 of the frames, never 2 frames without a look
        frames = [f for f in range(1, 20) if person in looked[f]]
        assert abs(len(frames) - 19 * per_frame / 4) <= 1 and np.diff(frames).max() <= 2, (person, frames)


def test_a_landmark_budget_below_one_saves_its_credit_across_frames():
    from occlupose.pipeline import FrameTracker

    crowd = _Crowd()
    crowd.starts = crowd.starts[:1]
    front = FrameTracker(RunConfig(landmark_budget=0.5, detect_every=100), detector=crowd, backend=crowd)
    for f in range(9):
        crowd.frame = f
        (d,) = front.step(f, crowd.image(), f / 25).values()
        assert np.abs(d.keypoints - crowd.figure(crowd.where()[0])).max() < 1.0
    assert [f for f in range(9) if f in crowd.looked] == [0, 2, 4, 6, 8]


def test_the_shared_options_help_names_the_defaults():
    from occlupose.cli import build_parser

    sub = next(a for a in build_parser()._actions if getattr(a, "choices", None) and "run" in a.choices)
    for name in ("run", "live"):
        help_text = " ".join(sub.choices[name].format_help().split())
        assert f"everyone every frame; default: {RunConfig.landmark_budget:g})" in help_text, name
        assert f"as it is; default: {RunConfig.onto_2d:g})" in help_text, name
        assert "depth alone; default: " + ",".join(f"{s:g}" for s in RunConfig.world_depth) + ")" in help_text, name


def test_under_a_landmark_budget_people_whose_boxes_overlap_are_looked_at_every_frame():
    """The flow at a person's keypoints may be someone else's where the two overlap (measured: carried crossing
    people swapped ids), so they are never carried; the one apart takes turns with nobody."""
    from occlupose.pipeline import FrameTracker

    crowd = _Crowd()
    crowd.starts = np.array([[100.0, 120.0], [200.0, 120.0], [500.0, 120.0]])  # the first two overlap
    front = FrameTracker(RunConfig(landmark_budget=1.0, detect_every=100), detector=crowd, backend=crowd)
    for f in range(8):
        crowd.frame = f
        assert sorted(front.step(f, crowd.image(), f / 25)) == [0, 1, 2]
    assert all(sorted(set(crowd.looked[f]) & {0, 1}) == [0, 1] for f in range(8))
    assert [f for f in range(1, 8) if 2 in crowd.looked[f]] == [2, 4, 6]
