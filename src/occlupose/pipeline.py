"""The main job: a video file in, every person's 3D poses out (paper Fig. 2).

video -> person detections (every ``detect_every`` frames) -> 2D keypoints + confidence per person crop, each
person followed to the next frame in a crop turned to their body axis (MediaPipe's rule), landmarks refined
from the heatmaps -> tracks (Hungarian on box IoU + pose similarity, gaps bridged as missing frames; pieces of
one person joined afterwards by place, size and clothes, things followed too sparsely to be a person
dropped) -> optical flow at the keypoints -> left and right kept one way round over each track (``sides``) ->
Eq. 2 confidence on the raw keypoints, threshold b -> keypoints stabilised (One Euro) -> lifter (missing
joints filled) -> one :class:`PersonTrack` per person.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .appearance import describe
from .checkpoint import check_device
from .detect import BlazePoseDetector, CombinedDetector, HOGDetector, PersonDetector, cv2_module
from .flow import FlowConfig, keypoint_flow
from .occlusion import OcclusionFilterConfig, track_confidence
from .outputs import PersonTrack
from .pose2d import BlazePoseBackend, PoseBackend, as_rois, rois_from_boxes
from .sides import GROUPS, causal_sides, consistent_sides, mirror_frames
from .sides import MODES as SIDES_MODES
from .skeleton import to_h36m
from .smoothing import MODES as SMOOTHING_MODES
from .smoothing import OneEuroConfig, smooth
from .tracking import (
    Detection,
    OnlineJoiner,
    StitchConfig,
    Track,
    Tracker,
    TrackerConfig,
    box_iou,
    part_of,
    pose_similarity,
    stitch,
)
from .trajectory import Intrinsics, TrajectoryConfig, intrinsics_for, onto_rays, onto_weights, trajectory
from .validate import at_least, within
from .video import VideoInfo, probe, read_frames

DETECTORS = ("hog+blazepose", "hog", "blazepose")
BACKENDS = ("blazepose", "hourglass")
STAGES = ("decode", "detect", "pose2d", "flow", "track", "lift")
#: a person is seen whole in a frame where they are at least this share of their largest size just before
WHOLE = 0.8
#: the stages the speed target counts: everything after decoding, before rendering
FRONT_END = ("detect", "pose2d", "flow", "track", "lift")


@dataclass(frozen=True)
class RunConfig:
    """Front-end settings. The occlusion filter (Eq. 2's sigma and b) is the lifter's own, from its checkpoint,
    unless ``occlusion`` overrides it."""

    detector: str = "hog+blazepose"
    backend: str = "blazepose"
    #: checkpoint of the hourglass backend (``occlupose hourglass train``)
    weights: str | None = None
    #: BlazePose: landmarks refined from the model's heatmaps, crops turned to the body's axis (MediaPipe's graph)
    refine_landmarks: bool = True
    rotate_crops: bool = True
    #: run the person detector on every n-th frame; people are followed from their keypoints in between
    detect_every: int = 10
    #: after a followed person is lost (hidden, out of the crop), the landmark model keeps looking for them for
    #: this many seconds in a crop moving on at their speed from where they were last seen whole, so that they
    #: are found again (and keep their id) as soon as they reappear rather than at the next detection
    search_after_loss: float = 1.5
    #: ... in every n-th frame (each look costs a landmark model pass), for people followed in at least this
    #: many frames before
    search_every: int = 2
    search_min_frames: int = 10
    #: the ids a frame's people get (live use; the offline run stitches tracks after the fact): a new track that
    #: continues a person lost within ``stitch.max_gap_s`` gets their id (tracking.OnlineJoiner); False: the
    #: online tracker's own ids, new after ``tracker.max_gap`` frames unseen
    join_online: bool = True
    #: the detector sees the frame shrunk to at most this many pixels on its longer side (0: full size); the
    #: landmark model still crops the full-resolution frame
    detect_size: int = 960
    #: the BlazePose detector also looks at overlapping square tiles of that frame, this many across its
    #: shorter side (0: the whole frame only), for people too small in the whole frame (occlupose.detect.
    #: TiledDetector)
    detect_tiles: float = 1.5
    #: optical flow (Eq. 2) on the frame shrunk to at most this many pixels on its longer side (0: full size);
    #: Eq. 2 compares motions relative to the person's size, so the scale does not change C*
    flow_size: int = 960
    #: most people followed at once (0: no limit)
    max_people: int = 0
    #: landmark model passes per frame, on average, for the people already followed (0: one each, every frame).
    #: With more people than that, those looked at longest ago get the passes and the others' keypoints move
    #: on by their optical flow, never two frames in a row (:data:`MAX_CARRIED`): the 2D model is most of the
    #: cost of a crowd (bundled clip, ~6 people a frame: 8.1 frames/s with 0, 12.1 with 2, on 2 cores), and a
    #: person looked at every other frame loses little (docs/results.md, "A landmark budget for crowds").
    #: Searches and detections are not counted
    landmark_budget: float = 2.0
    #: a crop whose pose presence score is below this holds no person
    min_presence: float = 0.5
    #: tracks seen in fewer frames are dropped as spurious
    min_track_frames: int = 5
    #: a track seen in fewer of the frames between its first and last is dropped: a person is followed from
    #: frame to frame, while a thing the detector mistakes for one (a lamp, a socket) is picked up at each
    #: detection and lost at once
    min_coverage: float = 0.5
    #: a track whose presence score (the landmark model's, median over its frames) is below this is a thing, not
    #: a person: a post on the floor found through the detector's tiles and followed for 5 frames had 0.58, every
    #: person followed on the real-video views and the street clip 0.94 or more
    min_track_presence: float = 0.8
    #: two crops whose keypoints are this similar (OKS) hold the same person
    duplicate_oks: float = 0.5
    #: a detection overlapping a followed person's last keypoint box by this IoU is that person (not re-cropped)
    covered_iou: float = 0.4
    #: seconds of the video to process
    start: float = 0.0
    end: float | None = None
    threads: int = 2
    device: str = "cpu"
    occlusion: OcclusionFilterConfig | None = None
    #: left and right kept consistent before anything else reads the keypoints (occlupose.sides: frames the
    #: landmark model labelled the other way round are mirrored back): "track" over the whole track, "causal"
    #: from the frames before only (live use, ``--causal``), "off": the model's labels
    sides: str = "track"
    #: keypoint stabilisation before lifting (occlupose.smoothing): none, one_euro (causal), one_euro_fb
    smoothing: str = "one_euro_fb"
    #: Eq. 2 on the smoothed keypoints instead of the raw ones
    smooth_before_filter: bool = False
    one_euro: OneEuroConfig = OneEuroConfig()
    tracker: TrackerConfig = TrackerConfig()
    stitch: StitchConfig = StitchConfig()
    flow: FlowConfig = FlowConfig()
    #: the camera, for where people are (occlupose.trajectory): focal length in pixels, or the horizontal field
    #: of view in degrees; neither: an assumed field of view (trajectory.DEFAULT_FOV_DEG)
    focal: float | None = None
    fov: float | None = None
    trajectory: TrajectoryConfig = TrajectoryConfig()
    #: each joint's 3D moved this share, times its C* over a few frames, of the way onto its 2D keypoint's camera
    #: ray at the depth the lifter gave it (occlupose.trajectory.onto_rays; 0: the lifter's 3D as it is). Chosen
    #: on held-out mocap bodies and the real-video benchmark's ``multi`` scene, scored on its ``single`` scene
    #: (docs/results.md, "The 3D pulled onto the 2D")
    onto_2d: float = 0.5
    #: each joint's depth moved a share of the way to the 2D model's own 3D pose's (BlazePose's world landmarks,
    #: read from the same pass; :func:`world_depth`): (legs, arms, trunk and head), or one share for every joint;
    #: 0: the lifter's depth alone; backends without a 3D pose: no change. Chosen on the real-video benchmark's
    #: ``multi`` scene (one share among 0-0.75, then one per group, checked leaving each view out), scored on its
    #: ``single`` scene (docs/results.md, "Two depths")
    world_depth: float | tuple[float, float, float] = (0.5, 0.25, 0.0)

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f"unknown detector {self.detector!r}; expected one of {DETECTORS}")
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown 2D backend {self.backend!r}; expected one of {BACKENDS}")
        if self.sides not in SIDES_MODES:
            raise ValueError(f"unknown sides mode {self.sides!r}; expected one of {SIDES_MODES}")
        if self.smoothing not in SMOOTHING_MODES:
            raise ValueError(f"unknown smoothing {self.smoothing!r}; expected one of {SMOOTHING_MODES}")
        if self.backend == "hourglass" and not self.weights:
            raise ValueError("the hourglass backend needs --weights FILE (train one: occlupose hourglass train)")
        at_least(self, 1, "detect_every", "search_every", "search_min_frames", "min_track_frames", "threads",
                 integer=True)
        at_least(self, 0, "max_people", "detect_size", "flow_size", integer=True)
        if not (self.detect_tiles == 0 or self.detect_tiles >= 1):
            raise ValueError(f"detect_tiles {self.detect_tiles}: 0 (off) or tiles across the shorter side (>= 1)")
        within(self, 0.0, 1.0, "min_presence", "min_track_presence", "duplicate_oks", "covered_iou", "min_coverage",
               "onto_2d")
        shares = np.atleast_1d(np.asarray(self.world_depth, dtype=np.float64))
        if shares.shape not in ((1,), (3,)) or not np.all((shares >= 0) & (shares <= 1)):
            raise ValueError(f"world_depth {self.world_depth}: one share, or three (legs, arms, trunk and head), "
                             "each from 0 to 1")
        object.__setattr__(self, "world_depth", tuple(float(s) for s in np.broadcast_to(shares, 3)))
        at_least(self, 0.0, "start", "search_after_loss", "landmark_budget")
        intrinsics_for(100, 100, self.focal, self.fov)  # checks them now, before any work
        if self.end is not None and not (math.isfinite(self.end) and self.end > self.start):
            raise ValueError(f"--start {self.start:g} / --end {self.end:g}: need 0 <= start < end")
        check_device(self.device)


@dataclass
class RunResult:
    video: VideoInfo
    tracks: list[PersonTrack]
    #: frame indices processed: first, one past the last
    frame_range: tuple[int, int]
    #: seconds spent per stage (STAGES)
    seconds: dict[str, float] = field(default_factory=dict)
    #: (frames,) time of each processed frame in seconds from the video's first frame (its timestamps)
    times: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: tracks found but not kept: seen in fewer than ``min_track_frames`` frames or too sparsely, a piece of
    #: another person (tracking.part_of), or never reliable
    short_tracks: int = 0
    #: the track length that was required (the config's, or the whole clip when it is shorter)
    min_track_frames: int = RunConfig.min_track_frames
    #: problems met that did not stop the run (a damaged or truncated file)
    warnings: list[str] = field(default_factory=list)
    #: the pinhole camera people were placed with, and which assumption gave it
    camera: Intrinsics | None = None
    camera_note: str = ""

    @property
    def frames(self) -> int:
        return self.frame_range[1] - self.frame_range[0]

    @property
    def fps(self) -> float:
        """The true frame rate, from the frames' timestamps (a container's nominal rate can be wrong: some
        variable-frame-rate files announce 1000 fps)."""
        return measured_fps(self.times, self.video.fps)

    def no_person_reason(self) -> str:
        first, end = self.frame_range
        where = f"{self.video.path} (frames {first}-{end - 1})"
        if self.short_tracks:
            return (f"{self.short_tracks} person track(s) in {where}, each seen in too few frames to lift "
                    f"(need {self.min_track_frames} frames, and most of those between its first and last), "
                    "a piece of another person, or with no keypoint passing the occlusion filter")
        return f"no person found in {where}"

    def stage_fps(self) -> dict[str, float]:
        return {k: self.frames / v if v > 0 else float("inf") for k, v in self.seconds.items()}

    def front_end_seconds(self) -> float:
        """Detection + 2D + flow + tracking + lifting."""
        return sum(self.seconds[k] for k in FRONT_END)


def make_detector(name: str, threads: int = 2, tiles: float = 0.0) -> PersonDetector:
    """``tiles`` > 0: the BlazePose detector also runs on tiles of the frame (detect.TiledDetector)."""
    from .detect import BlazePoseDetectorConfig, TiledDetector

    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; expected one of {DETECTORS}")
    parts: list[PersonDetector] = []
    if "hog" in name.split("+"):
        parts.append(HOGDetector())
    if "blazepose" in name.split("+"):
        blaze = BlazePoseDetector(BlazePoseDetectorConfig(threads=threads))
        parts.append(TiledDetector(blaze, tiles) if tiles else blaze)
    return parts[0] if len(parts) == 1 else CombinedDetector(parts)


def make_backend(name: str, threads: int = 2, weights: str | None = None, device: str = "cpu",
                 refine: bool = True, rotate: bool = True) -> PoseBackend:
    from .pose2d import BlazePoseConfig, HourglassBackend

    if name == "blazepose":
        return BlazePoseBackend(BlazePoseConfig(threads=threads, rotate=rotate, refine=refine))
    if name == "hourglass":
        if not weights:
            raise ValueError("the hourglass backend needs --weights FILE (train one: occlupose hourglass train)")
        return HourglassBackend(weights, device, threads)
    raise ValueError(f"unknown 2D backend {name!r}; expected one of {BACKENDS}")


def keypoint_boxes(keypoints: np.ndarray) -> np.ndarray:
    """(N, J, 2) -> (N, 4) tight boxes."""
    return np.concatenate([keypoints.min(1), keypoints.max(1)], 1)


def measured_fps(times: np.ndarray, nominal: float) -> float:
    """Frames per second from frame timestamps (median interval), else the container's ``nominal`` rate (also
    when the two agree to 0.1 %, so a 25 fps file says 25, not 25.0000001)."""
    d = np.diff(np.asarray(times, np.float64))
    d = d[d > 0]
    if not len(d):
        return float(nominal)
    fps = float(1.0 / np.median(d))
    return float(nominal) if nominal > 0 and abs(fps - nominal) < 1e-3 * nominal else round(fps, 6)


def shrunk(image: np.ndarray, longest: int) -> tuple[np.ndarray, float]:
    """``image`` scaled down to at most ``longest`` pixels on its longer side (0: as it is), and the scale."""
    scale = min(1.0, longest / max(image.shape[:2])) if longest else 1.0
    if scale >= 1.0:
        return image, 1.0
    cv2 = cv2_module()
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


#: frames in a row a person may be carried by optical flow alone under a landmark budget (measured on the
#: real-video views: looked at every 2nd frame, the 2D and 3D stay within ~1 px and 1 mm of every frame; every
#: 4th to 6th frame, one view lost its person)
MAX_CARRIED = 1


class FrameTracker:
    """The front end one frame at a time, shared by the offline run and live use: person detection every
    ``detect_every`` frames, landmarks in each followed person's crop, optical flow (Eq. 2's evidence) from the
    previous frame at its keypoints, tracking. ``seconds`` sums the time per stage."""

    def __init__(self, cfg: RunConfig = RunConfig(), detector: PersonDetector | None = None,
                 backend: PoseBackend | None = None):
        self.cv2 = cv2_module()
        self.cv2.setNumThreads(cfg.threads)
        self.cfg = cfg
        self.detector = detector or make_detector(cfg.detector, cfg.threads, cfg.detect_tiles)
        self.backend = backend or make_backend(cfg.backend, cfg.threads, cfg.weights, cfg.device,
                                               cfg.refine_landmarks, cfg.rotate_crops)
        self.tracker = Tracker(cfg.tracker)
        self.joiner = OnlineJoiner(cfg.stitch) if cfg.join_online else None
        #: track id -> the id shown for it in the last frame stepped
        self.shown: dict[int, int] = {}
        self.seconds = dict.fromkeys(STAGES, 0.0)
        self.follow: dict[int, np.ndarray] = {}  # track id -> region (4,) to crop in the next frame
        self.prev_gray: np.ndarray | None = None
        #: track id -> its detection in the last frame stepped
        self.previous: dict[int, Detection] = {}
        self.first: int | None = None
        self.first_stamp = 0.0
        #: track id -> (frame, region it gave for the next frame), over the last ``emerge_s`` or so
        self.regions: dict[int, deque[tuple[int, np.ndarray]]] = {}
        #: track id -> (region (4,) where last followed, its motion per frame (2,), frame lost, search until (s))
        self.lost: dict[int, tuple[np.ndarray, np.ndarray, int, float]] = {}
        #: track id -> the last frame its keypoints came from the landmark model (``landmark_budget``)
        self.looked: dict[int, int] = {}
        self.passes: dict[int, int] = {}  # ... and how many frames it did
        self.credit = 0.0

    def step(self, idx: int, frame: np.ndarray, stamp: float) -> dict[int, Detection]:
        """One RGB frame (H, W, 3) with index ``idx`` at ``stamp`` seconds (both increasing) -> the people in it,
        by track id. The detections of the frame before get their ``flow`` (from there to this frame) set here."""
        cfg, cv2, seconds = self.cfg, self.cv2, self.seconds
        if self.first is None:
            self.first, self.first_stamp = idx, stamp
        t1 = time.perf_counter()
        gray, fs = shrunk(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cfg.flow_size)
        flow_cfg = replace(cfg.flow, max_fb_error=cfg.flow.max_fb_error * fs)  # the same check in full-size pixels
        if self.prev_gray is not None and self.previous:
            dets = list(self.previous.values())
            f, ok = keypoint_flow(self.prev_gray, gray, fs * np.concatenate([d.keypoints for d in dets]), flow_cfg)
            f = f / fs
            for k, d in enumerate(dets):
                d.flow, d.flow_ok = f[17 * k:17 * (k + 1)], ok[17 * k:17 * (k + 1)]
        t2 = time.perf_counter()
        seconds["flow"] += t2 - t1
        looked_at, carried = self._share_passes(idx)
        rois = [self.follow[tid] for tid in looked_at]
        carried_dets, carried_rois = [], []
        for tid in carried:
            d, region = self._carry(self.previous[tid], self.follow[tid])
            carried_dets.append(d)
            carried_rois.append(region)
        full = cfg.max_people > 0 and len(self.follow) >= cfg.max_people  # nobody more to look for
        h, w = frame.shape[:2]
        self.lost = {t: v for t, v in self.lost.items() if stamp <= v[3]}
        for roi, motion, since, _ in self.lost.values():  # where the lost would be by now
            if not full and (idx - since) % cfg.search_every == 0:
                at = roi.copy()
                at[:2] += motion * (idx - since)
                if 0 <= at[0] < w and 0 <= at[1] < h:
                    rois.append(at)
        if (idx - self.first) % cfg.detect_every == 0 and not full:
            small, scale = shrunk(frame, cfg.detect_size)
            boxes = self.detector(small)[0] / scale
            if len(boxes) and self.follow:
                followed = np.array([self.previous[tid].box for tid in self.follow])
                boxes = boxes[~(box_iou(boxes, followed) > cfg.covered_iou).any(1)]
            rois += list(rois_from_boxes(boxes))
        t3 = time.perf_counter()
        seconds["detect"] += t3 - t2
        detections: list[Detection] = []
        next_rois: list[np.ndarray] = []
        if rois:
            res = self.backend.estimate(frame, np.array(rois))
            kp, conf = to_h36m(res.keypoints, res.confidence, self.backend.layout)
            world = None if res.world is None else to_h36m(res.world, res.confidence, self.backend.layout)[0]
            boxes = keypoint_boxes(kp)
            # followed people come first in rois, so they win against a new crop of the same person; new people
            # follow, the largest first (with --max-people, the people nearest the camera are the ones followed)
            n_followed = len(looked_at)
            size = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
            order = np.r_[np.arange(min(n_followed, len(rois))), n_followed + np.argsort(-size[n_followed:],
                                                                                          kind="stable")]
            moved = [d.keypoints for d in carried_dets]  # people carried by their flow are there too
            keep: list[int] = []
            for i in order[res.presence[order] >= cfg.min_presence]:
                others = np.concatenate([kp[keep], np.reshape(moved, (-1, 17, 2))])
                if len(others):
                    sim = pose_similarity(kp[i:i + 1], np.ones((1, 17)), others, np.ones((len(others), 17)),
                                          boxes[i:i + 1])
                    if sim.max() > cfg.duplicate_oks:
                        continue
                keep.append(int(i))
            if cfg.max_people > 0:
                keep = keep[:max(cfg.max_people - len(carried_dets), 0)]
            worn = describe(frame, kp[keep]) if keep else []
            detections = [Detection(boxes[i], kp[i], conf[i], float(res.presence[i]), appearance=a,
                                    world=None if world is None else world[i])
                          for i, a in zip(keep, worn)]
            next_rois = list(as_rois(res.next_rois)[keep]) if keep else []
        n_looked = len(detections)
        detections += carried_dets
        next_rois += carried_rois
        t4 = time.perf_counter()
        seconds["pose2d"] += t4 - t3
        ids = self.tracker.update(idx, detections)
        self.looked = {t: self.looked.get(t, -1) for t in ids[n_looked:]} | dict.fromkeys(ids[:n_looked], idx)
        self.passes = {t: self.passes.get(t, 0) + (self.looked[t] == idx) for t in ids}
        for tid in set(self.follow) - set(ids):  # followed until now, not found in this frame: look on for them
            track = self.tracker.tracks[tid]
            if len(track.frames) < cfg.search_min_frames:  # a glimpse (a part of someone, a thing): let it go
                continue
            seen, region, motion = self._last_seen_whole(track, idx, stamp)
            # the region was where to look in the frame after; it moves on from there
            region[:2] += motion * (idx - seen - 1)
            self.lost[tid] = (region, motion, idx, stamp + cfg.search_after_loss)
        for tid in ids:
            self.lost.pop(tid, None)
        self.follow = dict(zip(ids, next_rois))
        for tid, roi in self.follow.items():
            self.regions.setdefault(tid, deque(maxlen=64)).append((idx, np.asarray(roi, float)))
        self.regions = {t: v for t, v in self.regions.items() if t in self.follow or t in self.lost}
        self.previous = dict(zip(ids, detections))
        shown = ids if self.joiner is None else self.joiner.update(self.tracker.tracks, idx, ids, self._fps(idx, stamp))
        self.shown = dict(zip(ids, shown))
        self.prev_gray = gray
        seconds["track"] += time.perf_counter() - t4
        return self.people()

    def _share_passes(self, idx: int) -> tuple[list[int], list[int]]:
        """The followed people's track ids split by ``landmark_budget``: (looked at by the landmark model in frame
        ``idx``, carried on by their optical flow). Those looked at longest ago go first. Nobody is carried more
        than :data:`MAX_CARRIED` frames in a row, whatever the budget (it rises to that floor); someone whose box
        overlaps another followed person's (the flow at their keypoints may be the other's: crossing people
        swapped ids when carried) or without flow from the frame before (a video's first frame) is always looked
        at."""
        tids = list(self.follow)
        budget = self.cfg.landmark_budget
        if budget <= 0 or not tids:
            return tids, []
        self.credit += max(budget, len(tids) / (MAX_CARRIED + 1))  # the floor spread evenly, not in bursts
        boxes = np.array([self.previous[t].box for t in tids])
        lo, hi = np.maximum(boxes[:, None, :2], boxes[None, :, :2]), np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
        touching = ((hi > lo).all(-1) & ~np.eye(len(tids), dtype=bool)).any(1)  # flow there may be the other's
        must = [t for t, near in zip(tids, touching) if near or self.previous[t].flow is None
                or self.looked.get(t, -1) < idx - MAX_CARRIED]
        # longest ago first; among equals, who has had fewest passes (so the one carried rotates)
        movable = sorted((t for t in tids if t not in must), key=lambda t: (self.looked[t], self.passes.get(t, 0)))
        n = max(min(len(tids), int(self.credit + 1e-9)), len(must))
        self.credit = min(max(self.credit - n, 0.0), 1.0)  # fewer people than the budget: no saving up for later
        looked = set(must + movable[:n - len(must)])
        return [t for t in tids if t in looked], [t for t in tids if t not in looked]

    @staticmethod
    def _carry(d: Detection, region: np.ndarray) -> tuple[Detection, np.ndarray]:
        """The detection of the frame before moved on by the optical flow at its keypoints (joints whose flow
        failed its forward-backward check move with the median of the others; scores, presence and clothes
        kept), and the region (4,) to crop next: the one given for this frame, moved by the median motion."""
        flow = np.asarray(d.flow, float)
        ok = np.asarray(d.flow_ok, bool) if d.flow_ok is not None else np.ones(len(flow), bool)
        common = np.median(flow[ok], 0) if ok.any() else np.zeros(2)
        kp = d.keypoints + np.where(ok[:, None], flow, common)
        region = np.asarray(region, float).copy()
        region[:2] += common
        return (Detection(keypoint_boxes(kp[None])[0], kp, d.scores.copy(), d.presence, appearance=d.appearance,
                          world=d.world), region)

    def people(self) -> dict[int, Detection]:
        """The people of the last frame stepped, by the id shown for them."""
        return {self.shown[t]: d for t, d in self.previous.items()}

    def online_tracks(self) -> list[Track]:
        """Each person as live use numbers them (the online tracker's tracks joined as shown), by first frame."""
        tracks = self.tracker.tracks
        if self.joiner is None:
            return [Track(t.track_id, list(t.frames), list(t.detections)) for t in tracks]
        return sorted((self.joiner.person(tracks, r) for r in {self.joiner.shown(t.track_id) for t in tracks}),
                      key=lambda t: t.frames[0])

    def _fps(self, idx: int, stamp: float) -> float:
        return (idx - self.first) / (stamp - self.first_stamp) if stamp > self.first_stamp else 30.0


    def _last_seen_whole(self, track: Track, idx: int, stamp: float) -> tuple[int, np.ndarray, np.ndarray]:
        """Where to look for a person just lost: (the frame they were last seen whole, the region it gave for
        the frame after, their pelvis's motion per frame up to then). Someone walking behind a thing is seen in
        part for a few frames, on a crop shrinking onto what is left of them; the search must not start from
        those (real-video view multi/cam02: a man standing still, his last box 0.43 of his size, moved the
        search 90 px a frame away from him)."""
        fps = self._fps(idx, stamp)
        # over sightings, not frames: the search itself may find pieces of them in the thing that hides them
        n = len(track.frames)
        recent = range(max(0, n - max(1, round(self.cfg.stitch.emerge_s * fps))), n)
        sizes = np.array([track.detections[k].size for k in recent])
        k = recent[int(np.flatnonzero(sizes >= WHOLE * sizes.max())[-1])]
        regions = dict(self.regions.get(track.track_id, ()))
        frame = track.frames[k]
        region = regions.get(frame, self.follow.get(track.track_id))
        motion = Track(track.track_id, track.frames[:k + 1], track.detections[:k + 1]).velocity()
        return frame, np.asarray(region, float), motion


def track_video(path: str | Path, cfg: RunConfig = RunConfig(), detector: PersonDetector | None = None,
                backend: PoseBackend | None = None, progress: bool = True, online: bool = False):
    """Front end only: returns (info, tracks, frame range, seconds, times, problems). Each detection carries
    the optical flow from its frame to the next at its keypoints; tracks are stitched (:func:`tracking.stitch`),
    or with ``online`` as live use numbers them (:meth:`FrameTracker.online_tracks`)."""
    info = probe(path)
    front = FrameTracker(cfg, detector, backend)
    seconds = front.seconds
    duration = info.frame_count / info.fps if info.frame_count else 0.0
    total = int(round(((cfg.end if cfg.end is not None else duration) - cfg.start) * info.fps))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=max(total, 0) or None, unit="frame", desc="video", dynamic_ncols=True)
    n_read, first, end_index, origin = 0, None, 0, None
    times: list[float] = []
    problems: list[str] = []
    frames = read_frames(path, problems=problems)
    while True:
        t0 = time.perf_counter()
        item = next(frames, None)
        seconds["decode"] += time.perf_counter() - t0
        if item is None:
            break
        idx, stamp, frame = item
        origin = stamp if origin is None else origin
        if stamp - origin < cfg.start - 1e-6:  # --start and --end select by the frames' own times
            continue
        if cfg.end is not None and stamp - origin >= cfg.end - 1e-6:
            break
        first = idx if first is None else first
        n_read += 1
        end_index = idx + 1
        times.append(stamp - origin)
        people = front.step(idx, frame, stamp - origin)
        if bar is not None:
            bar.update(1)
            bar.set_postfix(people=len(people))
    if bar is not None:
        bar.close()
    if n_read == 0:
        where = f" from {cfg.start:g} s" if cfg.start else ""
        raise ValueError(f"{info.path}: no frames to read{where}" + (f" ({problems[0]})" if problems else ""))
    if not problems and cfg.end is None and cfg.start == 0 and info.frame_count > n_read + max(2, 0.02 * n_read):
        problems.append(f"{info.path}: decoded {n_read} frames but the file announces {info.frame_count}; it may "
                        "be truncated, results cover the frames that could be read")
    t5 = time.perf_counter()
    stamps = np.asarray(times)
    tracks = (front.online_tracks() if online
              else stitch(front.tracker.tracks, measured_fps(stamps, info.fps), cfg.stitch))
    seconds["track"] += time.perf_counter() - t5
    return info, tracks, (first, end_index), seconds, stamps, problems


def run_video(path: str | Path, model, cfg: RunConfig = RunConfig(), detector: PersonDetector | None = None,
              backend: PoseBackend | None = None, progress: bool = True) -> RunResult:
    """The whole pipeline. ``model``: a PoseLifter (see lifter.load_checkpoint). Tracks come out numbered
    0, 1, ... in order of first appearance; a result with no tracks means no person was found."""
    return lift_tracks(track_video(path, cfg, detector, backend, progress), model, cfg)


def dense_track(track: Track) -> tuple[np.ndarray, ...]:
    """One track over every frame from its first to its last (:meth:`tracking.Track.arrays`, held through gaps):
    frames (T,), keypoints (T, 17, 2), scores (T, 17), person size (T,) px, seen (T,) bool, and the optical flow
    (T, 17, 2) into the next frame with where it is valid (T, 17)."""
    frames, kp, conf, boxes = track.arrays()
    t = len(frames)
    seen = np.zeros(t, bool)
    seen[np.asarray(track.frames) - frames[0]] = True
    flow = np.zeros((t, 17, 2))
    flow_ok = np.zeros((t, 17), bool)
    for f, d in zip(track.frames, track.detections):  # one entry per frame, not per joint
        if d.flow is not None:
            flow[f - frames[0]], flow_ok[f - frames[0]] = d.flow, d.flow_ok
    box_size = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    return frames, kp, conf, box_size, seen, flow, flow_ok


def dense_world(track: Track) -> np.ndarray | None:
    """(T, 17, 3) the 2D model's own 3D pose over every frame from the track's first to its last (held through
    gaps, as :func:`dense_track` holds the keypoints), or None where a detection has none."""
    if any(d.world is None for d in track.detections):
        return None
    return track.held([d.world for d in track.detections])


def world_shares(shares: tuple[float, float, float]) -> np.ndarray:
    """(17,) each joint's share of :func:`world_depth` from (legs, arms, trunk and head): the groups of
    :data:`occlupose.sides.GROUPS`, the rest (pelvis, spine, thorax, neck, head) the trunk's."""
    out = np.full(17, float(shares[2]))
    for share, (left, right) in zip(shares, GROUPS):
        out[list(left) + list(right)] = share
    return out


def world_depth(poses: np.ndarray, world: np.ndarray, times: np.ndarray, share: float | np.ndarray,
                cfg: RunConfig) -> np.ndarray:
    """(T, 17, 3) root-relative poses with each joint's depth moved ``share`` (one, or (17,) per joint:
    :func:`world_shares`) of the way to the 2D model's own 3D pose's (``world`` (T, 17, 3), hip-centred, image
    axes; smoothed over time as the keypoints are). Why: the two depths are about equally wrong on real video but
    wrong differently (docs/results.md, "Two depths")."""
    rel = np.asarray(world, np.float64) - world[:, :1]
    height = np.maximum(np.ptp(rel[..., 1], axis=-1), 0.5)  # metres: the One Euro's person size
    rel = smooth(rel, times, height, cfg.smoothing, cfg.one_euro)
    out = np.asarray(poses, np.float64).copy()
    out[..., 2] += share * (rel[..., 2] - out[..., 2])
    return out


def lift_tracks(tracked: tuple, model, cfg: RunConfig = RunConfig()) -> RunResult:
    """The lifting half of :func:`run_video`, on what :func:`track_video` returned (so that one front-end pass
    can be lifted by several models)."""
    from .lifter import lift

    occlusion = cfg.occlusion or model.cfg.encoding.filter
    causal = model is not None and model.cfg.encoding.causal  # a live-use lifter: nothing may look ahead
    info, found, frame_range, seconds, times, problems = tracked
    seconds = dict(seconds)
    camera, camera_note = intrinsics_for(info.width, info.height, cfg.focal, cfg.fov)
    t0 = time.perf_counter()
    tracks: list[PersonTrack] = []
    # a clip shorter than min_track_frames keeps a person seen in all of it
    min_frames = min(cfg.min_track_frames, frame_range[1] - frame_range[0])
    short = 0
    shares = world_shares(cfg.world_depth)  # (17,) once for every track
    for track in found:
        span = track.frames[-1] - track.frames[0] + 1
        sparse = len(track.frames) < min_frames or len(track.frames) < cfg.min_coverage * span
        thing = np.median([d.presence for d in track.detections]) < cfg.min_track_presence
        if sparse or thing or any(part_of(track, other) for other in found if other is not track):
            short += 1
            continue
        frames, kp, conf, box_size, seen, flow, flow_ok = dense_track(track)
        world = dense_world(track) if shares.any() else None
        track_times = times[frames - frame_range[0]]
        if cfg.sides != "off":  # before Eq. 2 too: a relabelled joint's motion is its twin's, not its own
            labels = (consistent_sides(kp, seen, box_size) if cfg.sides == "track"
                      else causal_sides(kp, seen, box_size, track_times))
            kp, conf, flow, flow_ok = mirror_frames(labels, kp, conf, flow, flow_ok)
            if world is not None:
                world = mirror_frames(labels, world)[0]
        steady = smooth(kp, track_times, box_size, cfg.smoothing, cfg.one_euro)
        conf_star = track_confidence(conf, steady if cfg.smooth_before_filter else kp, seen, flow, flow_ok,
                                     box_size, occlusion.sigma)
        kp = steady
        reliable = conf_star >= occlusion.threshold
        if not reliable.any():  # nothing of this person was ever trusted: no pose to give
            short += 1
            continue
        poses = lift(model, kp, conf_star, device=cfg.device, times=track_times, threshold=occlusion.threshold,
                     camera=(camera.focal, camera.cx, camera.cy))
        root = trajectory(poses, kp, conf_star, track_times, camera, cfg.trajectory)
        if cfg.onto_2d > 0:
            poses, root = onto_rays(poses, root, kp, onto_weights(conf_star, causal), camera, cfg.onto_2d)
        if world is not None:
            poses = world_depth(poses, world, track_times, shares, cfg)
        poses = np.asarray(poses, np.float32)
        tracks.append(PersonTrack(len(tracks), frames, poses, kp.astype(np.float32),
                                  conf_star.astype(np.float32), reliable, track_times, root.astype(np.float32)))
    seconds["lift"] += time.perf_counter() - t0
    return RunResult(info, tracks, frame_range, seconds, times=times, short_tracks=short, warnings=problems,
                     min_track_frames=min_frames, camera=camera, camera_note=camera_note)
