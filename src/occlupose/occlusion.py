"""Keypoint reliability: the optical-flow consistency filter (paper Eq. 2) and the input normalisation the
temporal networks see. Used alike by the video front end and by the synthetic training data.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .validate import positive, within


@dataclass(frozen=True)
class OcclusionFilterConfig:
    """Eq. 2: ``C* = C exp(-|o - d|^2 / 2 sigma^2)``; below ``threshold`` a keypoint is missing.

    Displacements are divided by the person's box size (max of box width and height), so sigma = 0.1 means
    a disagreement of a tenth of the person's size between one frame and the next.
    """

    sigma: float = 0.1
    threshold: float = 0.3

    def __post_init__(self) -> None:
        positive(self, "sigma")
        within(self, 0.0, 1.0, "threshold")


def flow_consistency(conf: np.ndarray, flow: np.ndarray, disp: np.ndarray, box_size: np.ndarray,
                     sigma: float = 0.1) -> np.ndarray:
    """Eq. 2. conf (..., J); flow o and keypoint displacement d (..., J, 2) pixels; box_size (...,) pixels."""
    box = np.maximum(np.asarray(box_size, dtype=np.float64), 1e-9)[..., None]
    diff = np.asarray(flow) - np.asarray(disp)
    diff2 = (diff[..., 0] ** 2 + diff[..., 1] ** 2) / box**2  # not .sum(-1): slow over a trailing axis of 2
    return conf * np.exp(-diff2 / (2.0 * sigma**2))


def displacements(track: np.ndarray) -> np.ndarray:
    """(..., T, J, 2) positions -> (..., T, J, 2) motion from t to t+1; the last frame reuses t-1 -> t."""
    d = np.diff(track, axis=-3)
    return np.concatenate([d, d[..., -1:, :, :]], axis=-3) if d.shape[-3] else np.zeros_like(track)


def _fill_missing(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Linear interpolation over time of (..., T, D) values where valid (..., T) is false (edges held)."""
    t_len = values.shape[-2]
    t = np.broadcast_to(np.arange(t_len), valid.shape)
    prev = np.maximum.accumulate(np.where(valid, t, -1), axis=-1)
    nxt = np.flip(np.minimum.accumulate(np.flip(np.where(valid, t, t_len), -1), axis=-1), -1)
    has_prev, has_next = prev >= 0, nxt < t_len
    prev_c, next_c = np.where(has_prev, prev, nxt), np.where(has_next, nxt, prev)
    prev_c, next_c = np.clip(prev_c, 0, t_len - 1), np.clip(next_c, 0, t_len - 1)
    vp = np.take_along_axis(values, prev_c[..., None], axis=-2)
    vn = np.take_along_axis(values, next_c[..., None], axis=-2)
    span = np.maximum(next_c - prev_c, 1)
    w = ((t - prev_c) / span)[..., None]
    out = vp + w * (vn - vp)
    return np.where(valid[..., None], values, out)


def normalize_2d(keypoints: np.ndarray, reliable: np.ndarray, min_joints: int = 6
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Make 2D input independent of image position and person size.

    keypoints (..., T, 17, 2) in any unit, reliable (..., T, 17) bool. Each frame is centred on the pelvis
    (interpolated over time where the pelvis is missing; the reliable joints' mean where it never is);
    the sequence is divided by one scale: the median over frames (with >= ``min_joints`` reliable joints) of
    the RMS distance of the reliable joints from that centre. Returns (normalised (..., T, 17, 2),
    centre (..., T, 2), scale (...,)). Unreliable joints are left as they are; callers zero them.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    rel = np.asarray(reliable, dtype=bool)
    n_rel = rel.sum(-1)  # (..., T)
    w = rel / np.maximum(n_rel, 1)[..., None]  # x and y apart: a sum over joints with a trailing 2 is slow
    mean_rel = np.stack([(kp[..., 0] * w).sum(-1), (kp[..., 1] * w).sum(-1)], -1)
    pelvis_ok = rel[..., 0]
    any_pelvis = pelvis_ok.any(-1, keepdims=True)
    centre = np.where(any_pelvis[..., None], _fill_missing(kp[..., 0, :], pelvis_ok),
                      _fill_missing(mean_rel, n_rel > 0))
    d2 = (kp[..., 0] - centre[..., None, 0]) ** 2 + (kp[..., 1] - centre[..., None, 1]) ** 2  # (..., T, 17)
    rms = np.sqrt((d2 * rel).sum(-1) / np.maximum(n_rel, 1))
    good = n_rel >= min_joints
    good = np.where(good.any(-1, keepdims=True), good, n_rel > 0)
    with warnings.catch_warnings():  # a sequence with no reliable joint at all gets scale 1 below
        warnings.simplefilter("ignore", RuntimeWarning)
        scale = np.nanmedian(np.where(good, rms, np.nan), axis=-1)
    scale = np.where(np.isfinite(scale) & (scale > 1e-9), scale, 1.0)
    out = (kp - centre[..., None, :]) / scale[..., None, None, None]
    return out, centre, scale


def track_confidence(conf: np.ndarray, keypoints: np.ndarray, seen: np.ndarray, flow: np.ndarray,
                     flow_ok: np.ndarray, box_size: np.ndarray, sigma: float = 0.1) -> np.ndarray:
    """Eq. 2 over one tracked person: conf (T, J), keypoints (T, J, 2) px, seen (T,) frames with a detection,
    flow (T, J, 2) px from frame t to t+1 at the keypoints of frame t, flow_ok (T, J), box_size (T,) px.

    The motion ``d`` of frame t is keypoint(t+1) - keypoint(t) where the person is seen in both; a frame with
    no successor (the end of a run) uses the pair before it, as :func:`displacements` does. Where there is no
    flow evidence the confidence is left as the backend gave it. Returns C* (T, J).
    """
    kp = np.asarray(keypoints, np.float64)
    seen = np.asarray(seen, bool)
    disp = np.zeros_like(kp)
    disp[:-1] = kp[1:] - kp[:-1]
    pair = np.zeros_like(seen)
    pair[:-1] = seen[:-1] & seen[1:]
    evidence = pair[:, None] & np.asarray(flow_ok, bool)
    o, d = np.asarray(flow, np.float64).copy(), disp
    # the end of a run (seen, no successor) borrows the pair before it
    borrow = np.zeros_like(seen)
    borrow[1:] = seen[1:] & ~pair[1:] & pair[:-1]
    idx = np.flatnonzero(borrow)
    o[idx], d[idx], evidence[idx] = o[idx - 1], d[idx - 1], evidence[idx - 1]
    filtered = flow_consistency(conf, o, d, box_size, sigma)
    return np.where(evidence, filtered, conf)
