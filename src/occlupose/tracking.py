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
    """One person in one frame: box (4,) x0 y0 x1 y1 pixels, keypoints (17, 2) pixels, scores (17,)."""

    box: np.ndarray
    keypoints: np.ndarray
    scores: np.ndarray


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


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 4) x (M, 4) -> (N, M) intersection over union."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


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
