"""Optical flow at keypoints: the ``o`` of Eq. 2, compared with each keypoint's own motion ``d``.

Pyramidal Lucas–Kanade at the keypoints only (~1.5 ms for 85 points on a 640x480 frame here, against ~3 ms
for dense DIS), with a forward–backward check: a point whose backward track does not come home is a point the
flow could not follow, and gives no evidence either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .detect import cv2_module


@dataclass(frozen=True)
class FlowConfig:
    window: int = 21
    pyramid_levels: int = 3
    #: forward-backward disagreement (pixels) above which the flow at a point is not trusted
    max_fb_error: float = 2.0


def keypoint_flow(prev_gray: np.ndarray, gray: np.ndarray, points: np.ndarray, cfg: FlowConfig = FlowConfig()
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Flow from ``prev_gray`` to ``gray`` (H, W) uint8 at ``points`` (N, 2) pixels of the first frame.

    Returns flow (N, 2) pixels and ok (N,) bool (found, inside the frame, forward-backward consistent).
    """
    cv2 = cv2_module()
    pts = np.asarray(points, np.float32).reshape(-1, 1, 2)
    n = len(pts)
    if n == 0:
        return np.zeros((0, 2)), np.zeros(0, bool)
    params = dict(winSize=(cfg.window, cfg.window), maxLevel=cfg.pyramid_levels,
                  criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03))
    fwd, st1, _ = cv2.calcOpticalFlowPyrLK(prev_gray, gray, pts, None, **params)
    back, st2, _ = cv2.calcOpticalFlowPyrLK(gray, prev_gray, fwd, None, **params)
    flow = (fwd - pts).reshape(n, 2).astype(np.float64)
    fb = np.linalg.norm((back - pts).reshape(n, 2), axis=1)
    h, w = gray.shape[:2]
    p = pts.reshape(n, 2)
    inside = (p[:, 0] >= 0) & (p[:, 0] < w) & (p[:, 1] >= 0) & (p[:, 1] < h)
    ok = (st1.ravel() == 1) & (st2.ravel() == 1) & (fb <= cfg.max_fb_error) & inside & np.isfinite(flow).all(1)
    return np.where(ok[:, None], flow, 0.0), ok
