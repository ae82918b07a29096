"""2D keypoints with a confidence per keypoint, for each person crop (the paper's Sec. 3.1 stage).

A backend turns a frame and person regions into keypoints in its own layout (``layout`` names it for
``skeleton.to_h36m``), a confidence in [0, 1] per keypoint, a presence score per region, and the region to look
at in the next frame, so people are followed between detections without running the detector.

The default backend runs BlazePose GHUM's full landmark model, shipped inside the ``mediapipe`` wheel, with
ai-edge-litert on 256x256 crops. Its per-landmark *visibility* output is trained to say whether a landmark is
seen or hidden, which is what the paper's confidence C_i is (Eq. 1: zero heatmap for an occluded joint).
Measured here: ~20 ms per crop on 2 cores; regressed landmarks within ~4 px of the model's own heatmap peaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from .detect import cv2_module, mediapipe_model, tflite_interpreter
from .hourglass import decode_heatmaps, load_hourglass, to_input_coords


@dataclass
class Pose2D:
    """Per region: keypoints (N, K, 2) image pixels, confidence (N, K) in [0, 1], presence (N,) in [0, 1],
    next_rois (N, 4) the region to crop in the next frame (see :func:`as_rois`); ``world`` (N, K, 3) metres,
    hip-centred, the image's axes (x right, y down, z away from the camera), where the model gives a 3D pose of
    its own (BlazePose's world landmarks), else None."""

    keypoints: np.ndarray
    confidence: np.ndarray
    presence: np.ndarray
    next_rois: np.ndarray
    world: np.ndarray | None = None


class PoseBackend(Protocol):
    #: keypoint layout understood by skeleton.to_h36m ("mediapipe33", "coco17", "h36m17")
    layout: str

    def estimate(self, frame: np.ndarray, rois: np.ndarray) -> Pose2D:
        """frame (H, W, 3) RGB uint8, rois (N, 3) or (N, 4), see :func:`as_rois`."""
        ...


def as_rois(rois: np.ndarray) -> np.ndarray:
    """(N, 3) or (N, 4) -> (N, 4) regions: centre x, centre y, side of the square in pixels, and the rotation
    (radians) that turns the crop so the person's body axis points up in it (0: an upright crop)."""
    rois = np.asarray(rois, float)
    if rois.ndim == 1:
        rois = rois[None]
    if rois.ndim != 2 or rois.shape[1] not in (3, 4):
        raise ValueError(f"regions must be (N, 3) or (N, 4), got {rois.shape}")
    if rois.shape[1] == 3:
        rois = np.concatenate([rois, np.zeros((len(rois), 1))], 1)
    return rois


def rois_from_boxes(boxes: np.ndarray, margin: float = 1.25) -> np.ndarray:
    """(N, 4) boxes -> (N, 4) upright square regions around them (the longer side times ``margin``): a crop
    keeps the person's aspect ratio."""
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) * margin
    return np.concatenate([centre, side[:, None], np.zeros((len(boxes), 1))], 1)


def boxes_from_rois(rois: np.ndarray) -> np.ndarray:
    """(N, 4) axis-aligned boxes that hold the regions (a rotated square's bounding box)."""
    rois = as_rois(rois)
    half = rois[:, 2:3] / 2 * (np.abs(np.cos(rois[:, 3:4])) + np.abs(np.sin(rois[:, 3:4])))
    return np.concatenate([rois[:, :2] - half, rois[:, :2] + half], 1)


def rois_from_alignment(hip: np.ndarray, top: np.ndarray, margin: float = 1.25, rotate: bool = True
                        ) -> np.ndarray:
    """(N, 2) hip centres and (N, 2) points above the head -> (N, 4) regions, MediaPipe's rule: centred on the
    hips, side 2 x their distance x margin, turned so that hip -> top points up in the crop."""
    up = np.asarray(top, float) - np.asarray(hip, float)
    side = 2 * np.linalg.norm(up, axis=1) * margin
    angle = -np.pi / 2 - np.arctan2(up[:, 1], up[:, 0]) if rotate else np.zeros(len(up))
    angle = (angle + np.pi) % (2 * np.pi) - np.pi
    return np.concatenate([np.asarray(hip, float), side[:, None], angle[:, None]], 1)


def crop_matrix(roi: np.ndarray, size: int) -> np.ndarray:
    """(2, 3) affine image pixels -> crop pixels of the region ``roi`` (3,) or (4,)."""
    cx, cy, side, angle = (float(v) for v in as_rois(roi)[0])
    s = size / max(side, 1e-6)
    c, n = np.cos(angle) * s, np.sin(angle) * s
    rot = np.array([[c, -n], [n, c]])
    return np.concatenate([rot, (size / 2 - rot @ [cx, cy])[:, None]], 1)


def crop_to_image(points: np.ndarray, rois: np.ndarray, size: int) -> np.ndarray:
    """(N, K, 2) crop pixels of the regions (N, 4) -> image pixels."""
    rois = as_rois(rois)
    s = rois[:, 2] / size
    c, n = np.cos(rois[:, 3]) * s, np.sin(rois[:, 3]) * s
    inv = np.stack([np.stack([c, n], -1), np.stack([-n, c], -1)], 1)  # (N, 2, 2): the rotation undone
    return rois[:, None, :2] + np.einsum("nij,nkj->nki", inv, np.asarray(points, float) - size / 2)


def crop_to_image_axes(vectors: np.ndarray, rois: np.ndarray) -> np.ndarray:
    """(N, K, 3) vectors in a turned crop's axes -> the image's axes: x and y turned back by each region's
    rotation (:func:`crop_to_image` without the scale and shift), z as it is."""
    rot = as_rois(rois)[:, 3]
    c, n = np.cos(rot), np.sin(rot)
    v = np.asarray(vectors, float)
    x, y = v[..., 0], v[..., 1]
    return np.stack([c[:, None] * x + n[:, None] * y, -n[:, None] * x + c[:, None] * y, v[..., 2]], -1)


def crop(frame: np.ndarray, roi: np.ndarray, size: int) -> np.ndarray:
    """Square crop (size, size, 3) of the region ``roi`` (3,) or (4,), black outside the frame."""
    cv2 = cv2_module()
    roi = as_rois(roi)[0]
    m = crop_matrix(roi, size).astype(np.float32)
    interp = cv2.INTER_AREA if size < roi[2] else cv2.INTER_LINEAR
    return cv2.warpAffine(frame, m, (size, size), flags=interp, borderMode=cv2.BORDER_CONSTANT)


def refine_from_heatmap(points: np.ndarray, heatmap: np.ndarray, size: int, kernel: int = 7,
                        min_confidence: float = 0.5) -> np.ndarray:
    """MediaPipe's landmark refinement: each landmark (N, K, 2) in crop pixels (crop ``size``) moves to the
    confidence-weighted mean of the (kernel x kernel) heatmap cells around it, where the heatmap (N, h, w, >= K)
    logits peak above ``min_confidence`` there; otherwise it stays."""
    pts = np.asarray(points, float)
    n, k = pts.shape[:2]
    h, w = heatmap.shape[1:3]
    col = np.floor(pts[..., 0] / size * w).astype(int)
    row = np.floor(pts[..., 1] / size * h).astype(int)
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    off = np.arange(kernel) - (kernel - 1) // 2
    rr = row[..., None, None] + off[:, None]  # (N, K, kernel, 1)
    cc = col[..., None, None] + off[None, :]  # (N, K, 1, kernel)
    rr, cc = np.broadcast_arrays(rr, cc)
    valid = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
    ni = np.arange(n)[:, None, None, None]
    ki = np.arange(k)[None, :, None, None]
    conf = _sigmoid(heatmap[ni, np.clip(rr, 0, h - 1), np.clip(cc, 0, w - 1), ki]) * valid
    total = conf.sum((-1, -2))
    ok = inside & (conf.max((-1, -2)) >= min_confidence) & (total > 0)
    safe = np.where(total > 0, total, 1.0)
    refined = np.stack([(conf * cc).sum((-1, -2)) / safe / w * size, (conf * rr).sum((-1, -2)) / safe / h * size], -1)
    return np.where(ok[..., None], refined, pts)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, np.float64), -60, 60)))


@dataclass(frozen=True)
class BlazePoseConfig:
    threads: int = 2
    #: next region: square of side 2 x (hip centre to body-size point) x margin (MediaPipe's own tracking rule)
    margin: float = 1.25
    #: turn the next region to the body's axis, as MediaPipe does (else upright crops)
    rotate: bool = True
    #: move each landmark to its heatmap's local mean (MediaPipe's 7 x 7 window, peak >= 0.5)
    refine: bool = True


class BlazePoseBackend:
    layout = "mediapipe33"
    size = 256

    def __init__(self, cfg: BlazePoseConfig = BlazePoseConfig()):
        self.cfg = cfg
        self.interp = tflite_interpreter(mediapipe_model("pose_landmark/pose_landmark_full.tflite"), cfg.threads)
        self.input = self.interp.get_input_details()[0]["index"]
        shapes = {tuple(o["shape"][1:]): o["index"] for o in self.interp.get_output_details()}
        self.out_landmarks, self.out_flag = shapes[(195,)], shapes[(1,)]
        self.out_heatmap = shapes[(64, 64, 39)]
        self.out_world = shapes[(117,)]  # 39 x 3 world landmarks, metres, hip-centred, in the crop's axes

    def estimate(self, frame: np.ndarray, rois: np.ndarray) -> Pose2D:
        rois = as_rois(rois) if len(rois) else np.zeros((0, 4))
        n = len(rois)
        raw = np.zeros((n, 39, 5))
        flag = np.zeros(n)
        world = np.zeros((n, 39, 3))
        heat = np.zeros((n, 64, 64, 39), np.float32) if self.cfg.refine else None
        for i, roi in enumerate(rois):  # one crop per person: the model takes a batch of one at no extra cost
            x = crop(frame, roi, self.size).astype(np.float32) / 255.0
            self.interp.set_tensor(self.input, x[None])
            self.interp.invoke()
            raw[i] = self.interp.get_tensor(self.out_landmarks).reshape(39, 5)
            flag[i] = float(self.interp.get_tensor(self.out_flag).ravel()[0])
            world[i] = self.interp.get_tensor(self.out_world).reshape(39, 3)
            if heat is not None:
                heat[i] = self.interp.get_tensor(self.out_heatmap)[0]
        local = raw[:, :, :2]
        if heat is not None and n:
            local = refine_from_heatmap(local, heat, self.size)
        pts = crop_to_image(local, rois, self.size)
        conf = _sigmoid(raw[:, :33, 3])
        presence = np.clip(flag, 0.0, 1.0)  # the model's pose flag is already a probability
        next_rois = rois_from_alignment(pts[:, 33], pts[:, 34], self.cfg.margin, self.cfg.rotate)
        return Pose2D(pts[:, :33], conf, presence, next_rois, crop_to_image_axes(world[:, :33], rois))


class HourglassBackend:
    """The paper's own 2D network (:mod:`occlupose.hourglass`), from a checkpoint of
    ``occlupose hourglass train``: batched square crops, peak decoding, the peak value as C_i."""

    def __init__(self, weights: str, device: str = "cpu", threads: int = 2, margin: float = 1.25,
                 min_confidence: float = 0.3):
        if threads > 0:
            torch.set_num_threads(threads)
        self.model, self.meta = load_hourglass(weights, device)
        self.device, self.margin, self.min_confidence = device, margin, min_confidence
        self.layout = self.model.cfg.layout
        self.size = self.model.cfg.input_size

    def estimate(self, frame: np.ndarray, rois: np.ndarray) -> Pose2D:
        if not len(rois):
            j = self.model.cfg.joints
            return Pose2D(np.zeros((0, j, 2)), np.zeros((0, j)), np.zeros(0), np.zeros((0, 4)))
        rois = as_rois(rois)
        crops = np.stack([crop(frame, roi, self.size) for roi in rois])
        x = torch.from_numpy(crops).permute(0, 3, 1, 2).float().div(255.0).to(self.device)
        with torch.no_grad():
            pts, conf = decode_heatmaps(self.model.heatmaps(x))
        pts = to_input_coords(pts, self.model.cfg.stride).cpu().numpy().astype(float)
        conf = conf.cpu().numpy().astype(float)
        kp = crop_to_image(pts, rois, self.size)
        k = max(conf.shape[1] // 2, 1)
        presence = np.sort(conf, axis=1)[:, -k:].mean(1)
        sure = conf >= self.min_confidence
        few = sure.sum(1) < 4  # too little to re-centre on: keep looking where we looked
        sure[few] = True
        lo = np.where(sure[..., None], kp, np.inf).min(1)
        hi = np.where(sure[..., None], kp, -np.inf).max(1)
        next_rois = rois_from_boxes(np.concatenate([lo, hi], 1), self.margin)
        next_rois[few] = rois[few]
        return Pose2D(kp, conf, presence, next_rois)
