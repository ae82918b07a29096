"""Person detection: every person in a frame as a box, the first step of the front end (paper Fig. 2).

Two offline detectors, combined by default because their failures differ:

* ``hog``: OpenCV's HOG + linear SVM pedestrian detector — whole bodies at any orientation, down to ~100 px
  tall, but it needs legs and is slow (~100-150 ms per 640x480 frame here, so the pipeline runs it only
  every few frames and follows people in between from their keypoints).
* ``blazepose``: the BlazePose person detector that ships inside the ``mediapipe`` wheel, run with
  ai-edge-litert (~17 ms). It finds people close to the camera, upper bodies included, from the face and
  body alignment points, but misses small far-away people: it sees the frame at 224 px. ``TiledDetector``
  also runs it on overlapping tiles of the frame, for them.

A detector maps an RGB frame (H, W, 3) uint8 to ``boxes`` (N, 4) x0 y0 x1 y1 pixels and ``scores`` (N,).
"""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .deps import require


class PersonDetector(Protocol):
    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy non-maximum suppression; indices of the kept boxes, best first."""
    from .tracking import box_iou

    order = np.argsort(-scores)
    keep: list[int] = []
    if len(order) == 0:
        return np.zeros(0, int)
    overlaps = box_iou(boxes, boxes)
    suppressed = np.zeros(len(boxes), bool)
    for i in order:
        if suppressed[i]:
            continue
        keep.append(int(i))
        suppressed |= overlaps[i] > iou
    return np.array(keep, int)


def cv2_module():
    return require("cv2", "the video front end")


@dataclass(frozen=True)
class HOGConfig:
    #: image scale factor between pyramid levels of the sliding window
    pyramid_scale: float = 1.05
    win_stride: int = 8
    #: SVM margin a window must reach
    min_score: float = 0.3
    #: the HOG window (64x128) has a margin around the person: box shrunk to this fraction of width, height
    shrink: tuple[float, float] = (0.6, 0.85)
    nms_iou: float = 0.4


class HOGDetector:
    def __init__(self, cfg: HOGConfig = HOGConfig()):
        cv2 = cv2_module()
        self.cfg = cfg
        self.hog = cv2.HOGDescriptor()
        self.hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    #: OpenCV's people detector window (w, h) plus its padding: smaller frames crash OpenCV natively
    min_size = (64 + 16, 128 + 16)

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cv2 = cv2_module()
        s = self.cfg.win_stride
        h, w = frame.shape[:2]
        zoom = max(1.0, self.min_size[0] / w, self.min_size[1] / h)
        if zoom > 1:  # a frame smaller than the window: search it enlarged
            frame = cv2.resize(frame, (max(self.min_size[0], int(np.ceil(w * zoom))),
                                       max(self.min_size[1], int(np.ceil(h * zoom)))), interpolation=cv2.INTER_LINEAR)
        rects, weights = self.hog.detectMultiScale(frame, winStride=(s, s), padding=(8, 8),
                                                   scale=self.cfg.pyramid_scale)
        if len(rects) == 0:
            return np.zeros((0, 4)), np.zeros(0)
        rects = np.asarray(rects, float).reshape(-1, 4) / zoom
        scores = np.asarray(weights, float).ravel()
        cx, cy = rects[:, 0] + rects[:, 2] / 2, rects[:, 1] + rects[:, 3] / 2
        w, h = rects[:, 2] * self.cfg.shrink[0], rects[:, 3] * self.cfg.shrink[1]
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
        ok = scores >= self.cfg.min_score
        boxes, scores = boxes[ok], scores[ok]
        keep = nms(boxes, scores, self.cfg.nms_iou)
        return boxes[keep], scores[keep]


def mediapipe_model(relative: str) -> str:
    """Path of a model file bundled in the installed mediapipe wheel (no download ever)."""
    from pathlib import Path

    mediapipe = require("mediapipe", "the BlazePose models (inside its wheel)")
    path = Path(mediapipe.__file__).parent / "modules" / relative
    if not path.is_file():
        raise ValueError(f"{path} is missing: this mediapipe build does not carry the BlazePose models "
                         f"(occlupose needs mediapipe==0.10.21)")
    return str(path)


def tflite_interpreter(model_path: str, threads: int):
    litert = require("ai_edge_litert.interpreter", "running the BlazePose models")
    with native_stderr_silenced():  # TF Lite's C++ logger prints a banner ("Created ... XNNPACK delegate")
        interp = litert.Interpreter(model_path=model_path, num_threads=threads)
        interp.allocate_tensors()
    return interp


@contextlib.contextmanager
def native_stderr_silenced():
    """Send what native code writes to file descriptor 2 to /dev/null for the duration; Python's own
    messages are not affected (they are written only after the block)."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (embedded interpreters): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def ssd_anchors(input_size: int = 224, strides: tuple[int, ...] = (8, 16, 32, 32, 32), per_cell: int = 2
                ) -> np.ndarray:
    """(A, 2) anchor centres in [0, 1] of the BlazePose detector (fixed-size SSD anchors, 2 per cell; layers
    with the same stride share one grid)."""
    out = []
    i = 0
    while i < len(strides):
        n_same = 1
        while i + n_same < len(strides) and strides[i + n_same] == strides[i]:
            n_same += 1
        fm = int(np.ceil(input_size / strides[i]))
        yy, xx = np.meshgrid((np.arange(fm) + 0.5) / fm, (np.arange(fm) + 0.5) / fm, indexing="ij")
        centres = np.stack([xx.ravel(), yy.ravel()], 1)
        out.append(np.repeat(centres, per_cell * n_same, axis=0))
        i += n_same
    return np.concatenate(out)


@dataclass(frozen=True)
class BlazePoseDetectorConfig:
    min_score: float = 0.5
    #: the body squares of two people side by side overlap a lot (IoU up to ~0.5 measured on real clips): a
    #: lower threshold keeps only one of them (at 0.3 the second person of a two-person clip was never found)
    nms_iou: float = 0.6
    #: the person box is a square around the hips, 2 x hip-to-top distance times this margin; the pipeline's
    #: crop adds MediaPipe's 1.25 around the box (a margin here as well made crops so wide that they held the
    #: neighbour too, and the landmark model jumped between the two)
    margin: float = 1.0
    threads: int = 2


class BlazePoseDetector:
    """Letterboxes the frame to 224x224, decodes the 2254 SSD anchors, and turns each person's alignment
    points (hip centre, a point above the head) into a square body box."""

    size = 224

    def __init__(self, cfg: BlazePoseDetectorConfig = BlazePoseDetectorConfig()):
        self.cfg = cfg
        self.interp = tflite_interpreter(mediapipe_model("pose_detection/pose_detection.tflite"), cfg.threads)
        self.input = self.interp.get_input_details()[0]["index"]
        outs = sorted(self.interp.get_output_details(), key=lambda o: o["shape"][-1])
        self.out_scores, self.out_boxes = outs[0]["index"], outs[1]["index"]
        self.anchors = ssd_anchors(self.size)

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        cv2 = cv2_module()
        h, w = frame.shape[:2]
        scale = self.size / max(h, w)
        nw, nh = int(round(w * scale)), int(round(h * scale))
        ox, oy = (self.size - nw) // 2, (self.size - nh) // 2
        canvas = np.zeros((self.size, self.size, 3), np.float32)
        canvas[oy:oy + nh, ox:ox + nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA)
        self.interp.set_tensor(self.input, (canvas / 127.5 - 1.0)[None])
        self.interp.invoke()
        raw = self.interp.get_tensor(self.out_boxes)[0]
        logits = np.clip(self.interp.get_tensor(self.out_scores)[0, :, 0].astype(np.float64), -100, 100)
        scores = 1 / (1 + np.exp(-logits))
        ok = scores >= self.cfg.min_score
        if not ok.any():
            return np.zeros((0, 4)), np.zeros(0)
        raw, scores, anchors = raw[ok], scores[ok], self.anchors[ok]
        # keypoint 0: hip centre, keypoint 1: a point that fixes the body's size and rotation
        hip = raw[:, 4:6] / self.size + anchors
        top = raw[:, 6:8] / self.size + anchors
        hip = (hip * self.size - [ox, oy]) / scale
        top = (top * self.size - [ox, oy]) / scale
        half = np.linalg.norm(top - hip, axis=1) * self.cfg.margin
        boxes = np.concatenate([hip - half[:, None], hip + half[:, None]], 1)
        keep = nms(boxes, scores, self.cfg.nms_iou)
        return boxes[keep], scores[keep]


class CombinedDetector:
    """Union of several detectors, duplicates removed by NMS (scores are compared within each detector only
    through the order they are given: earlier detectors win ties)."""

    def __init__(self, detectors: list[PersonDetector], nms_iou: float = 0.4):
        self.detectors, self.nms_iou = detectors, nms_iou

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parts = [d(frame) for d in self.detectors]
        # rank by detector order first, then score: each detector's scores live on their own scale
        return merge_ranked(parts, [len(parts) - i for i in range(len(parts))], self.nms_iou)


def merge_ranked(parts: list[tuple[np.ndarray, np.ndarray]], levels: list[float], iou: float
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Several (boxes (N, 4), scores (N,)) sets as one, duplicates removed by NMS: a box of a higher ``level``
    wins over any of a lower one, within a level the higher score wins. Scores are clipped to [0, 0.99]."""
    if not parts:
        return np.zeros((0, 4)), np.zeros(0)
    boxes = np.concatenate([p[0] for p in parts])
    rank = np.concatenate([level + np.clip(p[1], 0, 0.99) for p, level in zip(parts, levels)])
    keep = nms(boxes, rank, iou)
    return boxes[keep], rank[keep] % 1.0


def tile_origins(height: int, width: int, side: int, overlap: float) -> np.ndarray:
    """(N, 2) x, y of square ``side`` tiles covering a ``height`` x ``width`` frame, evenly spread, with
    neighbours sharing at least ``overlap`` of a side (so a person on a border is whole in one of them)."""
    def starts(length: int) -> np.ndarray:
        room = max(length - side, 0)
        n = int(np.ceil(room / (side * (1 - overlap)) - 1e-9)) + 1 if room else 1
        return np.round(np.linspace(0, room, n)).astype(int)
    xs, ys = starts(width), starts(height)
    return np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)


class TiledDetector:
    """A detector run on the whole frame and also on overlapping square tiles of it, for small people. The
    BlazePose detector sees the frame letterboxed to 224 px, where a person under about a fifth of the frame's
    longer side is too small to be found (measured: in 1088x1920 video, a person 160 px tall is never found,
    while tiles of two thirds of the shorter side find them in every frame). Boxes from the whole frame win
    over the tiles'; a tile's box larger than ``max_share`` of the tile is dropped (a big person cut by the
    tile's border: the whole frame sees them)."""

    def __init__(self, detector: PersonDetector, per_side: float = 1.5, overlap: float = 0.2,
                 max_share: float = 0.6, nms_iou: float = 0.4, min_side: int = 224):
        if not per_side >= 1.0:
            raise ValueError(f"tiles per side: need >= 1, got {per_side}")
        self.detector, self.per_side, self.overlap = detector, per_side, overlap
        self.max_share, self.nms_iou, self.min_side = max_share, nms_iou, min_side

    def __call__(self, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = frame.shape[:2]
        parts = [self.detector(frame)]
        side = int(min(h, w) / self.per_side)
        if side >= self.min_side and max(h, w) > side:  # tiles no smaller than what the detector sees
            for x, y in tile_origins(h, w, side, self.overlap):
                b, sc = self.detector(frame[y:y + side, x:x + side])
                small = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) <= self.max_share * side
                parts.append((b[small] + [x, y, x, y], sc[small]))
        # the whole frame's boxes rank first, the tiles' all alike
        return merge_ranked(parts, [1.0] + [0.0] * (len(parts) - 1), self.nms_iou)
