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
    next_rois (N, 3) centre x, centre y, side of the square to crop in the next frame."""

    keypoints: np.ndarray
    confidence: np.ndarray
    presence: np.ndarray
    next_rois: np.ndarray


class PoseBackend(Protocol):
    #: keypoint layout understood by skeleton.to_h36m ("mediapipe33", "coco17", "h36m17")
    layout: str

    def estimate(self, frame: np.ndarray, rois: np.ndarray) -> Pose2D:
        """frame (H, W, 3) RGB uint8, rois (N, 3) centre x, centre y, side in pixels."""
        ...


def rois_from_boxes(boxes: np.ndarray, margin: float = 1.25) -> np.ndarray:
    """(N, 4) boxes -> (N, 3) square regions around them (the longer side times ``margin``): a crop keeps the
    person's aspect ratio."""
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) * margin
    return np.concatenate([centre, side[:, None]], 1)


def boxes_from_rois(rois: np.ndarray) -> np.ndarray:
    rois = np.asarray(rois, float).reshape(-1, 3)
    half = rois[:, 2:3] / 2
    return np.concatenate([rois[:, :2] - half, rois[:, :2] + half], 1)


def crop(frame: np.ndarray, roi: np.ndarray, size: int) -> np.ndarray:
    """Square crop (size, size, 3) of the region ``roi`` (cx, cy, side), black outside the frame."""
    cv2 = cv2_module()
    cx, cy, side = (float(v) for v in roi)
    s = size / max(side, 1e-6)
    m = np.array([[s, 0, size / 2 - cx * s], [0, s, size / 2 - cy * s]], np.float32)
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(frame, m, (size, size), flags=interp, borderMode=cv2.BORDER_CONSTANT)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, np.float64), -60, 60)))


@dataclass(frozen=True)
class BlazePoseConfig:
    threads: int = 2
    #: next region: square of side 2 x (hip centre to body-size point) x margin (MediaPipe's own tracking rule)
    margin: float = 1.25


class BlazePoseBackend:
    layout = "mediapipe33"
    size = 256

    def __init__(self, cfg: BlazePoseConfig = BlazePoseConfig()):
        self.cfg = cfg
        self.interp = tflite_interpreter(mediapipe_model("pose_landmark/pose_landmark_full.tflite"), cfg.threads)
        self.input = self.interp.get_input_details()[0]["index"]
        shapes = {tuple(o["shape"][1:]): o["index"] for o in self.interp.get_output_details()}
        self.out_landmarks, self.out_flag = shapes[(195,)], shapes[(1,)]

    def estimate(self, frame: np.ndarray, rois: np.ndarray) -> Pose2D:
        rois = np.asarray(rois, float).reshape(-1, 3)
        n = len(rois)
        raw = np.zeros((n, 39, 5))
        flag = np.zeros(n)
        for i, roi in enumerate(rois):  # one crop per person: the model takes a batch of one at no extra cost
            x = crop(frame, roi, self.size).astype(np.float32) / 255.0
            self.interp.set_tensor(self.input, x[None])
            self.interp.invoke()
            raw[i] = self.interp.get_tensor(self.out_landmarks).reshape(39, 5)
            flag[i] = float(self.interp.get_tensor(self.out_flag).ravel()[0])
        # crop pixels -> image pixels
        scale = rois[:, 2:3, None] / self.size
        pts = rois[:, None, :2] + (raw[:, :, :2] - self.size / 2) * scale
        conf = _sigmoid(raw[:, :33, 3])
        presence = np.clip(flag, 0.0, 1.0)  # the model's pose flag is already a probability
        hip, top = pts[:, 33], pts[:, 34]
        side = 2 * np.linalg.norm(top - hip, axis=1) * self.cfg.margin
        next_rois = np.concatenate([hip, side[:, None]], 1)
        return Pose2D(pts[:, :33], conf, presence, next_rois)


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
        rois = np.asarray(rois, float).reshape(-1, 3)
        if not len(rois):
            j = self.model.cfg.joints
            return Pose2D(np.zeros((0, j, 2)), np.zeros((0, j)), np.zeros(0), rois)
        crops = np.stack([crop(frame, roi, self.size) for roi in rois])
        x = torch.from_numpy(crops).permute(0, 3, 1, 2).float().div(255.0).to(self.device)
        with torch.no_grad():
            pts, conf = decode_heatmaps(self.model.heatmaps(x))
        pts = to_input_coords(pts, self.model.cfg.stride).cpu().numpy().astype(float)
        conf = conf.cpu().numpy().astype(float)
        # crop pixels -> image pixels (crop() puts the region's centre at size / 2)
        kp = rois[:, None, :2] + (pts - self.size / 2) * (rois[:, None, 2:3] / self.size)
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
