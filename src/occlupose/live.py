"""Live use: a camera (or a video file played at its own rate) in, every person's 2D and 3D drawn as each frame
arrives, the usual result files written when it stops.

Everything here looks only backwards. The front end is the offline one, one frame at a time
(:class:`pipeline.FrameTracker`); Eq. 2 for the newest frame compares the optical flow into it with the
keypoints' motion into it (offline, a frame uses the motion out of it, one frame later); keypoints and roots are
stabilised by the forwards One Euro filter; the causal lifter is fed frame by frame (:class:`stream.CausalStream`,
which computes at the model's frames exactly what it computes over the whole sequence). A frame's 3D is
therefore ready as soon as the frame has been processed: the latency is the processing time, and it is
measured per frame, from the moment the frame was available to the moment its drawing was done.

A source that delivers frames faster than they are processed has the stale ones dropped (counted), as a
camera does; ``every_frame`` processes every frame of a file instead, as fast as it can (for measuring).
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .occlusion import flow_consistency
from .outputs import PersonTrack
from .pipeline import FrameTracker, RunConfig, measured_fps, world_shares
from .sides import PERMUTATIONS, SideKeeper
from .smoothing import OneEuro
from .stream import CausalStream, receptive_field
from .tracking import Detection
from .trajectory import ONTO_FRAMES, Intrinsics, onto_rays, onto_weights, solve_root
from .validate import at_least


@dataclass(frozen=True)
class LiveConfig:
    #: a person is drawn (and kept in the results) once seen in this many frames: a thing mistaken for a
    #: person for a frame or two never shows
    min_frames: int = 5
    #: stop after this many seconds (0: at the end of the file, or when stopped)
    seconds: float = 0.0

    def __post_init__(self) -> None:
        at_least(self, 1, "min_frames", integer=True)
        at_least(self, 0.0, "seconds")


@dataclass
class Frame:
    """One frame from a source: its number there, its time (s) from the source's first frame, the
    ``perf_counter`` time it became available, and the RGB image (H, W, 3)."""

    index: int
    stamp: float
    arrived: float
    image: np.ndarray


class _Latest:
    """A one-frame mailbox: a newer frame replaces one not yet taken (counted as dropped)."""

    def __init__(self, keep_all: bool = False):
        self.cond = threading.Condition()
        self.items: deque[Frame] = deque()
        self.keep_all, self.done, self.dropped = keep_all, False, 0
        self.error: str | None = None

    def put(self, frame: Frame) -> bool:
        """False when the reader should stop."""
        with self.cond:
            while self.keep_all and len(self.items) >= 2 and not self.done:
                self.cond.wait(0.1)
            if self.done:
                return False
            if not self.keep_all and self.items:
                self.items.popleft()
                self.dropped += 1
            self.items.append(frame)
            self.cond.notify_all()
            return True

    def get(self, timeout: float = 5.0) -> Frame | None:
        """The next frame, or None at the end (or after ``timeout`` seconds without one)."""
        with self.cond:
            end = time.monotonic() + timeout
            while not self.items and not self.done and time.monotonic() < end:
                self.cond.wait(0.05)
            if self.items:
                frame = self.items.popleft()
                if self.keep_all:  # every frame in turn: a frame is available when its turn comes
                    frame.arrived = max(frame.arrived, time.perf_counter())
                self.cond.notify_all()
                return frame
            return None

    def close(self, error: str | None = None) -> None:
        with self.cond:
            self.done = True
            self.error = self.error or error
            self.cond.notify_all()


class _Source:
    """A reader thread filling a :class:`_Latest` mailbox; subclasses set ``box``, ``width``, ``height``,
    ``fps`` and implement ``_read``."""

    box: _Latest

    def __init__(self) -> None:
        self.problems: list[str] = []
        self._thread = threading.Thread(target=self._read, daemon=True)

    def _read(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def get(self) -> Frame | None:
        return self.box.get()

    def stop(self) -> None:
        self.box.close()
        self._thread.join(timeout=5)

    @property
    def dropped(self) -> int:
        return self.box.dropped


class FileSource(_Source):
    """A video file played at its own rate (frames not taken in time are dropped), or every frame in turn."""

    def __init__(self, path: str | Path, every_frame: bool = False):
        from .video import probe

        info = probe(path)  # a clear error now for a missing or unreadable file
        self.path, self.every_frame = Path(path), every_frame
        self.fps, self.width, self.height = info.fps, info.width, info.height
        self.box = _Latest(keep_all=every_frame)
        super().__init__()

    def _read(self) -> None:
        from .video import read_frames

        try:
            t0, origin = time.perf_counter(), None
            for index, stamp, image in read_frames(self.path, problems=self.problems):
                origin = stamp if origin is None else origin
                if not self.every_frame:  # wait until the frame is due
                    delay = t0 + (stamp - origin) - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                if not self.box.put(Frame(index, stamp - origin, time.perf_counter(), image)):
                    return
        except Exception as exc:  # noqa: BLE001 - reported by the consumer, not lost in a thread
            self.box.close(f"{self.path}: {exc}")
        self.box.close()


class CameraSource(_Source):
    """An OpenCV camera by index, read continuously on its own thread; the newest frame wins."""

    def __init__(self, index: int, width: int = 640, height: int = 480):
        import cv2

        self.cap = cv2.VideoCapture(index)
        if not self.cap.isOpened():
            raise ValueError(f"camera {index}: cannot be opened (no such camera, or it is in use)")
        self.cap.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        self.cap.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        ok, first = self.cap.read()
        if not ok:
            self.cap.release()
            raise ValueError(f"camera {index}: opened but gives no frames")
        self.height, self.width = first.shape[:2]
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 30.0)
        self.box = _Latest()
        self._cv2 = cv2
        super().__init__()

    def _read(self) -> None:
        t0, index = time.perf_counter(), 0
        while True:
            ok, bgr = self.cap.read()
            now = time.perf_counter()
            if not ok:
                self.box.close("the camera stopped giving frames")
                return
            rgb = self._cv2.cvtColor(bgr, self._cv2.COLOR_BGR2RGB)
            if not self.box.put(Frame(index, now - t0, now, rgb)):
                return
            index += 1

    def stop(self) -> None:
        super().stop()
        self.cap.release()


@dataclass
class _Person:
    """One person's causal state and everything produced for them so far."""

    first_seen: int
    kp_filter: OneEuro
    root_filter: OneEuro
    stream: CausalStream
    last_raw: np.ndarray | None = None  # (17, 2) raw keypoints of the last frame processed (left/right kept)
    last_step: int = -2  # processing step of that frame
    sides: SideKeeper | None = None  # left and right kept one way round (None: the model's labels)
    #: the 2D model's own 3D pose (occlupose.pipeline.world_depth), smoothed as the keypoints are
    world_filter: OneEuro = field(default_factory=OneEuro)
    #: (17,) that frame's relabelling (occlupose.sides.PERMUTATIONS; its flow must be relabelled too)
    last_relabel: np.ndarray = field(default_factory=lambda: np.arange(17))
    trusted: bool = False  # a joint has passed the occlusion filter in some frame so far
    rows: list = field(default_factory=list)  # (frame, time, pose, kp, C*, reliable, root) for the outputs
    seen: int = 0


@dataclass
class LivePose:
    track_id: int
    keypoints_2d: np.ndarray  # (17, 2) px, stabilised
    reliable: np.ndarray  # (17,) bool
    pose_3d: np.ndarray  # (17, 3) m, root-relative
    root: np.ndarray  # (3,) m, camera frame; NaN when not placed


class LiveLifter:
    """Per-person causal state: Eq. 2 on the newest frame, One Euro keypoints, the causal lifter fed frame by
    frame (:class:`stream.CausalStream`: the whole-sequence result at the model's frames), the root placed by
    :func:`trajectory.solve_root` and One Euro."""

    def __init__(self, model, run: RunConfig, camera: Intrinsics, cfg: LiveConfig = LiveConfig()):
        self.model, self.run, self.camera, self.cfg = model, run, camera, cfg
        self.filter = run.occlusion or model.cfg.encoding.filter
        self.receptive = receptive_field(model)
        self.lift_camera = (camera.focal, camera.cx, camera.cy)  # for a lifter along the viewing ray
        self.world_shares = world_shares(run.world_depth)  # (17,) once, not per frame and person
        self.people: dict[int, _Person] = {}
        self.step_times: list[float] = []

    def update(self, step: int, frame: int, stamp: float, people: dict[int, Detection],
               before: dict[int, Detection]) -> list[LivePose]:
        """The people of processing step ``step`` (source frame ``frame`` at ``stamp`` s) by track id, and
        those of the step before (whose ``flow`` leads into this frame) -> the poses to show now."""
        self.step_times.append(stamp)
        shown: list[LivePose] = []
        for tid, det in people.items():
            p = self.people.get(tid)
            if p is None:
                p = self.people[tid] = _Person(step, OneEuro(self.run.one_euro), OneEuro(self.run.trajectory.one_euro),
                                               CausalStream(self.model, self.receptive, self.run.device,
                                                            self.filter.threshold, self.lift_camera),
                                               sides=None if self.run.sides == "off" else SideKeeper(),
                                               world_filter=OneEuro(self.run.one_euro))
            size = det.size
            raw = np.asarray(det.keypoints, np.float64)
            conf = np.asarray(det.scores, np.float64)
            relabel = PERMUTATIONS[p.sides(raw, size, stamp) if p.sides is not None else 0]
            raw, conf = raw[relabel], conf[relabel]
            prev = before.get(tid)
            if p.last_step == step - 1 and prev is not None and prev.flow is not None:
                flow, flow_ok = prev.flow, prev.flow_ok
                # measured at that frame's keypoints as the model labelled them
                flow, flow_ok = flow[p.last_relabel], flow_ok[p.last_relabel]
                c_star = flow_consistency(conf, flow, raw - p.last_raw, size, self.filter.sigma)
                conf = np.where(flow_ok, c_star, conf)
            for missed in range(max(p.last_step + 1, p.first_seen), step):  # frames it was not seen in
                p.stream.push(self.step_times[missed], np.full((17, 2), np.nan), np.zeros(17))
            kp = p.kp_filter(raw, stamp, size)
            p.last_raw, p.last_step, p.last_relabel = raw, step, relabel
            pose = p.stream.push(stamp, kp, conf).astype(np.float64)
            p.seen += 1
            reliable = conf >= self.filter.threshold
            p.trusted |= bool(reliable.any())
            if not p.trusted:  # nothing trusted yet: no pose to give
                continue
            w = np.where(conf >= self.run.trajectory.min_confidence, conf, 0.0)
            root, ok = solve_root(pose[None], kp[None], w[None], self.camera, self.run.trajectory.iterations,
                                  self.run.trajectory.min_joints)
            height = max(float(np.ptp(pose[:, 1])), 0.5)
            root = p.root_filter(root[0], stamp, height) if ok[0] else np.full(3, np.nan)
            if self.run.onto_2d > 0:  # C* over this frame and the last ones with a pose
                recent = np.array([row[4] for row in p.rows[max(0, len(p.rows) - ONTO_FRAMES + 1):]] + [conf])
                moved, placed = onto_rays(pose[None], root[None], kp[None], onto_weights(recent, causal=True)[-1:],
                                          self.camera, self.run.onto_2d)
                pose, root = moved[0], placed[0]
            if self.world_shares.any() and det.world is not None:  # as pipeline.world_depth, causally
                rel = np.asarray(det.world, np.float64)[relabel]
                rel = p.world_filter(rel - rel[:1], stamp, max(float(np.ptp(rel[:, 1])), 0.5))
                pose = pose.copy()
                pose[:, 2] += self.world_shares * (rel[:, 2] - pose[:, 2])
            p.rows.append((frame, stamp, pose, kp, conf, reliable, root))
            if p.seen >= self.cfg.min_frames:
                shown.append(LivePose(tid, kp, reliable, pose, root))
        return shown

    def tracks(self, processed: int) -> list[PersonTrack]:
        """The people worth keeping (seen in ``min_frames`` frames and in most of the steps between their
        first and last sighting, with a reliable joint), numbered 0, 1, ... by first appearance."""
        out: list[PersonTrack] = []
        for tid in sorted(self.people, key=lambda t: self.people[t].first_seen):
            p = self.people[tid]
            span = p.last_step - p.first_seen + 1
            if (p.seen < min(self.cfg.min_frames, processed) or p.seen < self.run.min_coverage * span
                    or not p.rows):
                continue
            frame, stamp, pose, kp, conf, reliable, root = (np.array(c) for c in zip(*p.rows))
            if not reliable.any():
                continue
            # a root not placed in some frame takes the last one placed (the live view did the same)
            ok = np.isfinite(root).all(1)
            if ok.any():
                last = np.maximum.accumulate(np.where(ok, np.arange(len(ok)), -1))
                root = root[np.where(last >= 0, last, int(np.argmax(ok)))]
            out.append(PersonTrack(len(out), frame, pose.astype(np.float32), kp.astype(np.float32),
                                   conf.astype(np.float32), reliable, stamp, root.astype(np.float32)))
        return out


class LiveView:
    """The picture shown and recorded: the frame with every person's 2D (occluded joints as red rings) and,
    beside it, a panel with their 3D poses placed where they are, seen from a little above."""

    def __init__(self, width: int, height: int):
        self.w, self.h = width, height
        self.centre: np.ndarray | None = None

    def draw(self, image: np.ndarray, poses: list[LivePose], note: str) -> np.ndarray:
        import cv2

        from .render import TRACK_COLOURS, draw_pose_2d, draw_pose_3d

        h, w = self.h, self.w
        canvas = np.empty((h, w + h, 3), np.uint8)
        canvas[:, :w] = image
        canvas[:, w:] = 24
        roots = np.array([p.root for p in poses if np.isfinite(p.root).all()]).reshape(-1, 3)
        if len(roots):  # the scene's centre follows the people slowly
            c = roots.mean(0)
            self.centre = c if self.centre is None else self.centre + 0.05 * (c - self.centre)
        px_per_m = h / 4.0
        for k, p in enumerate(poses):
            colour = TRACK_COLOURS[p.track_id % len(TRACK_COLOURS)]
            draw_pose_2d(canvas[:, :w], p.keypoints_2d, p.reliable, colour, f"#{p.track_id}")
            placed = self.centre is not None and np.isfinite(p.root).all()
            offset = p.root - self.centre if placed else np.array([1.0 * (k - (len(poses) - 1) / 2), 0.0, 0.0])
            draw_pose_3d(canvas, p.pose_3d, (w + h / 2, h * 0.5), px_per_m, 0.4, colour, offset=offset, tilt=0.35)
        cv2.putText(canvas, note, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        return canvas


@dataclass
class LiveResult:
    tracks: list[PersonTrack]
    #: frames processed, and frames the source gave that were dropped because processing was busy
    processed: int
    dropped: int
    wall_seconds: float
    #: (processed,) seconds from each frame being available to its picture being drawn
    latency: np.ndarray
    #: the rate of the processed frames' own timestamps
    fps: float
    seconds: dict[str, float]
    problems: list[str]

    @property
    def rate(self) -> float:
        """Frames processed per second of wall time."""
        return self.processed / max(self.wall_seconds, 1e-9)

    def summary(self) -> dict:
        lat = self.latency * 1000
        pct = (lambda q: round(float(np.percentile(lat, q)), 1)) if len(lat) else (lambda q: math.nan)
        return {"frames_processed": self.processed, "frames_dropped": self.dropped,
                "wall_seconds": round(self.wall_seconds, 2), "frames_per_second": round(self.rate, 2),
                "latency_ms": {"median": pct(50), "p95": pct(95), "max": pct(100)},
                "latency_frames": 0, "people": len(self.tracks),
                "stage_seconds": {k: round(v, 3) for k, v in self.seconds.items()}}


def _hand_over(out: queue.Queue, item, stop: threading.Event) -> bool:
    """Put ``item`` for the main thread, giving up once it has stopped listening; False then."""
    while not stop.is_set():
        try:
            out.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def _front_end(source, front: FrameTracker, out: queue.Queue, stop: threading.Event) -> None:
    """The front end's thread: frames from ``source`` -> (step, frame, people, people of the step before); then
    None at the end, or the exception that stopped it."""
    step = 0
    try:
        while not stop.is_set():
            frame = source.get()
            if frame is None:
                break
            before = front.people()  # their flow into this frame is set by the step below
            people = front.step(step, frame.image, frame.stamp)
            if not _hand_over(out, (step, frame, people, before), stop):
                return
            step += 1
    except Exception as exc:  # noqa: BLE001 - handed to the main thread, which raises it
        _hand_over(out, exc, stop)
        return
    _hand_over(out, None, stop)


def run_live(source, model, run: RunConfig, camera: Intrinsics, cfg: LiveConfig = LiveConfig(),
             show=None, record=None, stop: threading.Event | None = None) -> LiveResult:
    """Process ``source`` (FileSource or CameraSource) until it ends, ``cfg.seconds`` pass, ``stop`` is set or
    ``show`` (called with each drawn RGB picture) returns False. ``record``: called with each picture and its
    time, to write it. Ctrl-C stops it too, keeping what was done.

    Two stages run at once, as a camera app does: the front end (detection, landmarks, flow, tracking) of a
    frame on one thread while the lifter and the drawing handle the frame before on this one (which must also
    be the one that shows pictures); the capture runs on a third."""
    front = FrameTracker(run)
    lifter = LiveLifter(model, run, camera, cfg)
    view = LiveView(source.width, source.height)
    latency: list[float] = []
    stamps: list[float] = []
    seconds = {"lift": 0.0, "draw": 0.0}
    stop = stop or threading.Event()
    handoff: queue.Queue = queue.Queue(maxsize=1)
    worker = threading.Thread(target=_front_end, args=(source, front, handoff, stop), daemon=True)
    t_start = time.perf_counter()
    source.start()
    worker.start()
    steps = 0
    try:
        while True:
            item = handoff.get()
            if item is None:
                break
            if isinstance(item, Exception):
                raise item
            step, frame, people, before = item
            t0 = time.perf_counter()
            poses = lifter.update(step, frame.index, frame.stamp, people, before)
            t1 = time.perf_counter()
            rate = len(latency) / max(t0 - t_start, 1e-9)
            picture = view.draw(frame.image, poses, f"frame {frame.index}  people {len(poses)}  {rate:.1f} frames/s")
            t2 = time.perf_counter()
            seconds["lift"] += t1 - t0
            seconds["draw"] += t2 - t1
            latency.append(t2 - frame.arrived)
            stamps.append(frame.stamp)
            steps = step + 1
            keep_going = show(picture) if show is not None else True
            if record is not None:
                record(picture, frame.stamp)
            if keep_going is False or (cfg.seconds and time.perf_counter() - t_start >= cfg.seconds):
                break
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        source.stop()
        worker.join(timeout=10)
    wall = time.perf_counter() - t_start
    if source.box.error and not steps:
        raise ValueError(source.box.error)
    problems = list(source.problems) + ([source.box.error] if source.box.error else [])
    fps = measured_fps(np.asarray(stamps), source.fps)
    stage = {k: v for k, v in front.seconds.items() if k in ("detect", "pose2d", "flow", "track")} | seconds
    return LiveResult(lifter.tracks(steps), steps, source.dropped, wall, np.asarray(latency), fps, stage, problems)
