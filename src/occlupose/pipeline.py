"""The main job: a video file in, every person's 3D poses out (paper Fig. 2).

video -> person detections (every ``detect_every`` frames) -> 2D keypoints + confidence per person crop, each
person followed to the next frame from its own keypoints -> tracks (Hungarian on box IoU + pose similarity,
gaps bridged as missing frames) -> optical flow at the keypoints -> Eq. 2 confidence, threshold b -> lifter
(2D TCN + 3D TCN, missing joints filled) -> one :class:`PersonTrack` per person.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .detect import BlazePoseDetector, CombinedDetector, HOGDetector, PersonDetector, cv2_module
from .flow import FlowConfig, keypoint_flow
from .occlusion import OcclusionFilterConfig, track_confidence
from .outputs import PersonTrack
from .pose2d import BlazePoseBackend, PoseBackend, rois_from_boxes
from .skeleton import to_h36m
from .tracking import Detection, Tracker, TrackerConfig, box_iou, pose_similarity
from .video import VideoInfo, probe, read_frames

DETECTORS = ("hog+blazepose", "hog", "blazepose")
BACKENDS = ("blazepose", "hourglass")
STAGES = ("decode", "detect", "pose2d", "flow", "track", "lift")
#: the stages the speed target counts: everything after decoding, before rendering
FRONT_END = ("detect", "pose2d", "flow", "track", "lift")


@dataclass(frozen=True)
class RunConfig:
    """Front-end settings; the occlusion filter's defaults are the paper's (sigma 0.1, b 0.3)."""

    detector: str = "hog+blazepose"
    backend: str = "blazepose"
    #: checkpoint of the hourglass backend (``occlupose hourglass train``)
    weights: str | None = None
    #: run the person detector on every n-th frame; people are followed from their keypoints in between
    detect_every: int = 10
    #: most people followed at once (0: no limit)
    max_people: int = 0
    #: a crop whose pose presence score is below this holds no person
    min_presence: float = 0.5
    #: tracks seen in fewer frames are dropped as spurious
    min_track_frames: int = 5
    #: two crops whose keypoints are this similar (OKS) hold the same person
    duplicate_oks: float = 0.5
    #: a detection overlapping a followed person's last keypoint box by this IoU is that person (not re-cropped)
    covered_iou: float = 0.4
    #: seconds of the video to process
    start: float = 0.0
    end: float | None = None
    threads: int = 2
    device: str = "cpu"
    occlusion: OcclusionFilterConfig = OcclusionFilterConfig()
    tracker: TrackerConfig = TrackerConfig()
    flow: FlowConfig = FlowConfig()


@dataclass
class RunResult:
    video: VideoInfo
    tracks: list[PersonTrack]
    #: frame indices processed: first, one past the last
    frame_range: tuple[int, int]
    #: seconds spent per stage (STAGES)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return self.frame_range[1] - self.frame_range[0]

    def stage_fps(self) -> dict[str, float]:
        return {k: self.frames / v if v > 0 else float("inf") for k, v in self.seconds.items()}

    def front_end_seconds(self) -> float:
        """Detection + 2D + flow + tracking + lifting."""
        return sum(self.seconds[k] for k in FRONT_END)


def make_detector(name: str, threads: int = 2) -> PersonDetector:
    from .detect import BlazePoseDetectorConfig

    if name not in DETECTORS:
        raise ValueError(f"unknown detector {name!r}; expected one of {DETECTORS}")
    parts: list[PersonDetector] = []
    if "hog" in name.split("+"):
        parts.append(HOGDetector())
    if "blazepose" in name.split("+"):
        parts.append(BlazePoseDetector(BlazePoseDetectorConfig(threads=threads)))
    return parts[0] if len(parts) == 1 else CombinedDetector(parts)


def make_backend(name: str, threads: int = 2, weights: str | None = None, device: str = "cpu") -> PoseBackend:
    from .pose2d import BlazePoseConfig, HourglassBackend

    if name == "blazepose":
        return BlazePoseBackend(BlazePoseConfig(threads=threads))
    if name == "hourglass":
        if not weights:
            raise ValueError("the hourglass backend needs --weights FILE (train one: occlupose hourglass train)")
        return HourglassBackend(weights, device, threads)
    raise ValueError(f"unknown 2D backend {name!r}; expected one of {BACKENDS}")


def keypoint_boxes(keypoints: np.ndarray) -> np.ndarray:
    """(N, J, 2) -> (N, 4) tight boxes."""
    return np.concatenate([keypoints.min(1), keypoints.max(1)], 1)


def _frame_range(info: VideoInfo, cfg: RunConfig) -> tuple[int, int | None]:
    if cfg.start < 0 or (cfg.end is not None and cfg.end <= cfg.start):
        raise ValueError(f"--start {cfg.start} / --end {cfg.end}: need 0 <= start < end")
    first = int(round(cfg.start * info.fps))
    last = None if cfg.end is None else int(round(cfg.end * info.fps))
    return first, last


def track_video(path: str | Path, cfg: RunConfig = RunConfig(), detector: PersonDetector | None = None,
                backend: PoseBackend | None = None, progress: bool = True):
    """Front end only: returns (info, tracker, flows, frame range, seconds). ``flows[(track, frame)]`` holds
    (flow (17, 2), ok (17,)) from that frame to the next at the track's keypoints."""
    cv2 = cv2_module()
    cv2.setNumThreads(cfg.threads)
    info = probe(path)
    first, last = _frame_range(info, cfg)
    detector = detector or make_detector(cfg.detector, cfg.threads)
    backend = backend or make_backend(cfg.backend, cfg.threads, cfg.weights, cfg.device)
    tracker = Tracker(cfg.tracker)
    seconds = dict.fromkeys(STAGES, 0.0)
    flows: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    follow: dict[int, np.ndarray] = {}  # track id -> region (3,) to crop in the next frame
    prev_gray: np.ndarray | None = None
    previous: dict[int, Detection] = {}  # track id -> its detection in the previous frame
    total = (last if last is not None else info.frame_count) - first
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=max(total, 0) or None, unit="frame", desc="video", dynamic_ncols=True)
    n_read, end_index = 0, first
    frames = read_frames(path, first, last)
    while True:
        t0 = time.perf_counter()
        item = next(frames, None)
        t1 = time.perf_counter()
        seconds["decode"] += t1 - t0
        if item is None:
            break
        idx, frame = item
        n_read += 1
        end_index = idx + 1
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        if prev_gray is not None and previous:
            ids = list(previous)
            f, ok = keypoint_flow(prev_gray, gray, np.concatenate([previous[i].keypoints for i in ids]), cfg.flow)
            for k, tid in enumerate(ids):
                flows[(tid, idx - 1)] = (f[17 * k:17 * (k + 1)], ok[17 * k:17 * (k + 1)])
        t2 = time.perf_counter()
        seconds["flow"] += t2 - t1
        rois = [follow[tid] for tid in follow]
        if (idx - first) % max(cfg.detect_every, 1) == 0:
            boxes, _ = detector(frame)
            if len(boxes) and follow:
                followed = np.array([previous[tid].box for tid in follow])
                boxes = boxes[~(box_iou(boxes, followed) > cfg.covered_iou).any(1)]
            rois += list(rois_from_boxes(boxes))
        t3 = time.perf_counter()
        seconds["detect"] += t3 - t2
        detections: list[Detection] = []
        next_rois: list[np.ndarray] = []
        if rois:
            res = backend.estimate(frame, np.array(rois))
            kp, conf = to_h36m(res.keypoints, res.confidence, backend.layout)
            boxes = keypoint_boxes(kp)
            # followed people come first in rois, so they win against a new crop of the same person
            keep: list[int] = []
            for i in np.flatnonzero(res.presence >= cfg.min_presence):
                if keep:
                    sim = pose_similarity(kp[i:i + 1], np.ones((1, 17)), kp[keep], np.ones((len(keep), 17)),
                                          boxes[i:i + 1])
                    if sim.max() > cfg.duplicate_oks:
                        continue
                keep.append(int(i))
            if cfg.max_people > 0:
                keep = keep[:cfg.max_people]
            detections = [Detection(boxes[i], kp[i], conf[i]) for i in keep]
            next_rois = [res.next_rois[i] for i in keep]
        t4 = time.perf_counter()
        seconds["pose2d"] += t4 - t3
        ids = tracker.update(idx, detections)
        follow = dict(zip(ids, next_rois))
        previous = dict(zip(ids, detections))
        prev_gray = gray
        seconds["track"] += time.perf_counter() - t4
        if bar is not None:
            bar.update(1)
            bar.set_postfix(people=len(detections))
    if bar is not None:
        bar.close()
    if n_read == 0:
        where = f" from {cfg.start:g} s" if first else ""
        raise ValueError(f"{info.path}: no frames to read{where}")
    return info, tracker, flows, (first, end_index), seconds


def run_video(path: str | Path, model, cfg: RunConfig = RunConfig(), detector: PersonDetector | None = None,
              backend: PoseBackend | None = None, progress: bool = True) -> RunResult:
    """The whole pipeline. ``model``: a PoseLifter (see lifter.load_checkpoint). Tracks come out numbered
    0, 1, ... in order of first appearance; a result with no tracks means no person was found."""
    from .lifter import lift

    info, tracker, flows, frame_range, seconds = track_video(path, cfg, detector, backend, progress)
    t0 = time.perf_counter()
    tracks: list[PersonTrack] = []
    for track in tracker.tracks:
        if len(track.frames) < cfg.min_track_frames:
            continue
        frames, kp, conf, boxes = track.arrays()
        t = len(frames)
        seen = np.zeros(t, bool)
        seen[np.asarray(track.frames) - frames[0]] = True
        flow = np.zeros((t, 17, 2))
        flow_ok = np.zeros((t, 17), bool)
        for f in track.frames:  # one entry per frame, not per joint
            if (track.track_id, f) in flows:
                flow[f - frames[0]], flow_ok[f - frames[0]] = flows[(track.track_id, f)]
        box_size = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        conf_star = track_confidence(conf, kp, seen, flow, flow_ok, box_size, cfg.occlusion.sigma)
        reliable = conf_star >= cfg.occlusion.threshold
        poses = lift(model, kp, reliable, info.fps, cfg.device)
        tracks.append(PersonTrack(len(tracks), frames, poses, kp.astype(np.float32),
                                  conf_star.astype(np.float32), reliable))
    seconds["lift"] += time.perf_counter() - t0
    return RunResult(info, tracks, frame_range, seconds)
