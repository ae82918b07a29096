"""Multi-person tracking by box overlap and pose similarity (in the spirit of PoseFlow, paper Sec. 3).

Each frame's detections are matched to the live tracks with the Hungarian algorithm on
``similarity = w_box IoU + w_pose OKS``; a track unseen for up to ``max_gap`` frames can still be matched, so
a short occlusion or a missed detection becomes missing frames of the same person, not a new person. A
track's box and keypoints are carried forward at its last velocity while it is unseen, so a person who walks
on behind something is met where they come out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from .validate import at_least


@dataclass(frozen=True)
class TrackerConfig:
    box_weight: float = 0.5
    pose_weight: float = 0.5
    #: below this similarity a detection starts a new track
    min_similarity: float = 0.2
    #: frames a track may go unseen and still continue
    max_gap: int = 25
    #: OKS falloff, as a fraction of the box size
    pose_kappa: float = 0.1
    #: keypoints below this score do not count in the pose similarity
    min_score: float = 0.3


@dataclass
class Detection:
    """One person in one frame: box (4,) x0 y0 x1 y1 pixels, keypoints (17, 2) pixels, scores (17,), and the
    landmark model's presence score (how sure it is that the crop holds a person)."""

    box: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray
    presence: float = 1.0
    #: optical flow (17, 2) px from this frame to the next at the keypoints, and where it is valid (17,)
    flow: np.ndarray | None = None
    flow_ok: np.ndarray | None = None

    @property
    def size(self) -> float:
        """The person's size in pixels: the longer side of the keypoint box."""
        return float(max(self.box[2] - self.box[0], self.box[3] - self.box[1], 1.0))


@dataclass
class Track:
    track_id: int
    frames: list[int] = field(default_factory=list)
    detections: list[Detection] = field(default_factory=list)

    @property
    def last(self) -> Detection:
        return self.detections[-1]

    def velocity(self, window: int = 5) -> np.ndarray:
        """(2,) pixels per frame of the pelvis keypoint over the last ``window`` frames the person was seen
        (a keypoint box jitters with every arm swing; the pelvis does not). 0 with a single detection."""
        frames = np.asarray(self.frames[-window:])
        if len(frames) < 2:
            return np.zeros(2)
        first = int(np.searchsorted(frames, frames[-1] - window))
        if frames[-1] == frames[first]:
            return np.zeros(2)
        a, b = self.detections[len(self.frames) - len(frames) + first], self.detections[-1]
        return (b.keypoints[0] - a.keypoints[0]) / (frames[-1] - frames[first])

    def predicted(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """Box (4,) and keypoints (17, 2) expected at ``frame``, at constant velocity from the last detection."""
        shift = self.velocity() * (frame - self.frames[-1])
        return self.last.box + np.tile(shift, 2), self.last.keypoints + shift

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Dense per-frame arrays from the first to the last frame seen: frames (T,), keypoints (T, 17, 2),
        scores (T, 17) with 0 on the frames where the person was not detected, boxes (T, 4) (held)."""
        first, last = self.frames[0], self.frames[-1]
        frames = np.arange(first, last + 1)
        n = len(frames)
        kp = np.zeros((n, 17, 2))
        sc = np.zeros((n, 17))
        boxes = np.zeros((n, 4))
        idx = np.array(self.frames) - first
        kp[idx] = [d.keypoints for d in self.detections]
        sc[idx] = [d.scores for d in self.detections]
        boxes[idx] = [d.box for d in self.detections]
        # hold the last seen keypoints/box through gaps (scores stay 0: the lifter sees them as missing)
        seen = np.zeros(n, bool)
        seen[idx] = True
        last_seen = np.maximum.accumulate(np.where(seen, np.arange(n), 0))
        return frames, kp[last_seen], sc, boxes[last_seen]


def box_area(boxes: np.ndarray) -> np.ndarray:
    """(..., 4) x0 y0 x1 y1 -> (...) areas."""
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def box_intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 4) and (..., 4), broadcast against each other -> (...) overlap areas."""
    lo = np.maximum(a[..., :2], b[..., :2])
    hi = np.minimum(a[..., 2:], b[..., 2:])
    return np.clip(hi - lo, 0, None).prod(-1)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) -> (N, M) intersection over union."""
    inter = box_intersection(a[:, None], b[None])
    return inter / np.maximum(box_area(a)[:, None] + box_area(b)[None, :] - inter, 1e-9)


def pose_similarity(kp_a: np.ndarray, sc_a: np.ndarray, kp_b: np.ndarray, sc_b: np.ndarray, boxes_a: np.ndarray,
                    kappa: float = 0.1, min_score: float = 0.3) -> np.ndarray:
    """(N, 17, 2) vs (M, 17, 2) -> (N, M) object-keypoint similarity over the keypoints confident in both."""
    scale = np.sqrt(np.maximum((boxes_a[:, 2] - boxes_a[:, 0]) * (boxes_a[:, 3] - boxes_a[:, 1]), 1.0))
    d2 = ((kp_a[:, None] - kp_b[None]) ** 2).sum(-1)  # (N, M, 17)
    both = (sc_a[:, None] >= min_score) & (sc_b[None] >= min_score)
    sim = np.exp(-d2 / (2 * (kappa * scale[:, None, None]) ** 2))
    n = both.sum(-1)
    return np.where(n > 0, (sim * both).sum(-1) / np.maximum(n, 1), 0.0)


class Tracker:
    """Feed detections frame by frame with :meth:`update`; read :attr:`tracks` at the end."""

    def __init__(self, cfg: TrackerConfig = TrackerConfig()):
        self.cfg = cfg
        self.tracks: list[Track] = []

    def _live(self, frame: int) -> list[Track]:
        return [t for t in self.tracks if frame - t.frames[-1] <= self.cfg.max_gap + 1]

    def update(self, frame: int, detections: list[Detection]) -> list[int]:
        """Assign this frame's detections to tracks; returns the track id of each detection."""
        live = self._live(frame)
        ids = [-1] * len(detections)
        if live and detections:
            pred = [t.predicted(frame) for t in live]
            boxes_t = np.array([p[0] for p in pred])
            boxes_d = np.array([d.box for d in detections])
            sim = self.cfg.box_weight * box_iou(boxes_t, boxes_d) + self.cfg.pose_weight * pose_similarity(
                np.array([p[1] for p in pred]), np.array([t.last.scores for t in live]),
                np.array([d.keypoints for d in detections]), np.array([d.scores for d in detections]),
                boxes_t, self.cfg.pose_kappa, self.cfg.min_score)
            rows, cols = linear_sum_assignment(-sim)
            for r, c in zip(rows, cols):
                if sim[r, c] >= self.cfg.min_similarity:
                    live[r].frames.append(frame)
                    live[r].detections.append(detections[c])
                    ids[c] = live[r].track_id
        for c, d in enumerate(detections):
            if ids[c] < 0:
                track = Track(len(self.tracks), [frame], [d])
                self.tracks.append(track)
                ids[c] = track.track_id
        return ids


@dataclass(frozen=True)
class StitchConfig:
    """Joining the pieces of one person's track after the fact (the online tracker only looks one frame back)."""

    #: a person unseen for up to this long keeps their id (the goal is 1 s hidden; being found again takes up to
    #: a few frames more, benchmarks/occlusion_ids.py)
    max_gap_s: float = 1.5
    #: where they come back: within this many body sizes of where they were heading
    max_distance: float = 1.0
    #: and at a similar size (ratio of the larger to the smaller)
    max_size_ratio: float = 1.6
    #: each side's size at a join is its largest over this long there: a person walking behind something, or
    #: coming out, is seen in part for a few frames
    emerge_s: float = 0.25
    #: two tracks at the same time whose pelvis keypoints stay this close (in body sizes) are one person
    duplicate_distance: float = 0.2

    def __post_init__(self) -> None:
        at_least(self, 0.0, "max_gap_s", "max_distance", "duplicate_distance", "emerge_s")
        at_least(self, 1.0, "max_size_ratio")


def _merge(a: Track, b: Track) -> Track:
    """One track from two; where both saw a frame the more confident detection (presence) stays, the longer
    track's on a tie."""
    if len(b.frames) > len(a.frames):
        a, b = b, a
    best: dict[int, Detection] = {}
    for f, d in [*zip(a.frames, a.detections), *zip(b.frames, b.detections)]:
        if f not in best or d.presence > best[f].presence:
            best[f] = d
    frames = sorted(best)
    return Track(min(a.track_id, b.track_id), frames, [best[f] for f in frames])


def _duplicate_distance(a: Track, b: Track) -> float:
    """Median pelvis distance over the frames both tracks saw, in body sizes (inf when they share none)."""
    common = sorted(set(a.frames) & set(b.frames))
    if not common:
        return np.inf
    da = dict(zip(a.frames, a.detections))
    db = dict(zip(b.frames, b.detections))
    d = [np.linalg.norm(da[f].keypoints[0] - db[f].keypoints[0]) / max(da[f].size, db[f].size) for f in common]
    return float(np.median(d))


def _successor_cost(a: Track, b: Track, max_gap: int, cfg: StitchConfig, emerge: int = 1) -> float:
    """How far (body sizes) b's first pelvis is from where a was heading, or inf when b cannot continue a.
    Sizes: the largest of a's last and b's first ``emerge`` frames."""
    gap = b.frames[0] - a.frames[-1]
    if gap <= 0 or gap > max_gap:
        return np.inf
    first = b.detections[0]
    # frames are sorted: the window's detections are among the last (first) ``emerge`` of each track
    size_a = max(d.size for f, d in zip(a.frames[-emerge:], a.detections[-emerge:]) if f > a.frames[-1] - emerge)
    size_b = max(d.size for f, d in zip(b.frames[:emerge], b.detections[:emerge]) if f < b.frames[0] + emerge)
    if max(size_a, size_b) / min(size_a, size_b) > cfg.max_size_ratio:
        return np.inf
    _, expected = a.predicted(b.frames[0])
    # the prediction grows less certain with the gap: compare with the last seen place too, take the nearer
    here = first.keypoints[0]
    dist = min(np.linalg.norm(here - expected[0]), np.linalg.norm(here - a.last.keypoints[0]))
    cost = dist / size_a
    return cost if cost <= cfg.max_distance else np.inf


def part_of(a: Track, b: Track, min_inside: float = 0.6, max_size: float = 0.6) -> bool:
    """Whether ``a`` is a piece of the person ``b`` (a crop of their legs taken for a small person): in at least
    half of the frames ``a`` was seen, ``b`` was seen too, ``min_inside`` of ``a``'s keypoint box lay inside
    ``b``'s and ``a`` was at most ``max_size`` times ``b``'s size. Measured case: a 7-frame track on a walking
    man's legs, 0.34-0.96 inside his box, a third of his size. The rule's risk: a small person standing in front
    of a big one for most of their track."""
    db = dict(zip(b.frames, b.detections))
    pairs = [(d, db[f]) for f, d in zip(a.frames, a.detections) if f in db]
    if not pairs:
        return False
    box_a = np.array([d.box for d, _ in pairs])
    box_b = np.array([o.box for _, o in pairs])
    inside = box_intersection(box_a, box_b) / np.maximum(box_area(box_a), 1e-9)
    smaller = np.array([d.size <= max_size * o.size for d, o in pairs])
    return int(((inside >= min_inside) & smaller).sum()) >= 0.5 * len(a.frames)


def _cheapest_pair(tracks: list[Track], cost, ordered: bool) -> tuple[int, int] | None:
    """Indices (i, j) of the pair with the lowest finite ``cost(tracks[i], tracks[j])`` (the first found on a
    tie), over every ordered pair, or each unordered one once (i < j); None when no cost is finite."""
    best, pair = np.inf, None
    for i, a in enumerate(tracks):
        for j in range(len(tracks)) if ordered else range(i + 1, len(tracks)):
            if i != j:
                c = cost(a, tracks[j])
                if c < best:
                    best, pair = c, (i, j)
    return pair


def stitch(tracks: list[Track], fps: float, cfg: StitchConfig = StitchConfig()) -> list[Track]:
    """Tracks of the same person joined: two that follow the same person at the same time (duplicates), and one
    that starts within ``max_gap_s`` of another's end, near where it was heading and at its size (a person
    hidden, turned or jumping who was lost and found again); duplicates are joined before any successor.
    Returns tracks renumbered 0, 1, ... by first frame."""
    tracks = [Track(t.track_id, list(t.frames), list(t.detections)) for t in tracks if t.frames]
    max_gap = max(1, int(round(cfg.max_gap_s * fps)))
    emerge = max(1, int(round(cfg.emerge_s * fps)))
    def duplicate(a: Track, b: Track) -> float:
        d = _duplicate_distance(a, b)
        return d if d <= cfg.duplicate_distance else np.inf

    def successor(a: Track, b: Track) -> float:
        return _successor_cost(a, b, max_gap, cfg, emerge)

    while len(tracks) > 1:
        # duplicates first: two tracks of one person at the same time is seen, a successor only guessed. A
        # search crop that lands on someone else makes a short double of them, which may also lie where the
        # lost person was heading (real-video view multi/cam04): joined to the lost person, it would overlap
        # their true return in time and keep it from being joined
        pair = _cheapest_pair(tracks, duplicate, ordered=False) or _cheapest_pair(tracks, successor, ordered=True)
        if pair is None:
            break
        i, j = pair
        merged = _merge(tracks[i], tracks[j])
        tracks = [t for k, t in enumerate(tracks) if k not in (i, j)] + [merged]
    tracks.sort(key=lambda t: t.frames[0])
    for k, t in enumerate(tracks):
        t.track_id = k
    return tracks
