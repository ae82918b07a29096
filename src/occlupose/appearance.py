"""What a person wears: the colour of their torso, thighs and shins, read at their keypoints.

Where people are tells them apart until two of them meet; then a crop that followed one may end on the other
(real-video view multi/cam03: a man walks into the place of a woman hidden behind a panel, and his crop holds
her when the panel goes). Their clothes still tell them apart. A descriptor here is the median CIELAB colour of
each region, (3 regions, 3) per person, sampled on a grid between the keypoints (no segmentation, no learned
embedding: nothing to download, ~0.1 ms a person). Colours are OpenCV's 8-bit Lab (L, a, b each 0-255).
Measured on the 8 real-video views (`benchmarks/occlusion_ids.py --wheel WHEEL --appearance`): between the
medians over successive 0.2 s of one person's sightings the distance is at most 15.2, between two people at
least 16.5; on the 10 frames/s street clip, whose people are ~70 px, one person's own distance reaches 38 and
two people's goes down to 0.3, so the stitching reads only people at least ``StitchConfig.appearance_min_size``
pixels tall.
"""

from __future__ import annotations

import warnings

import numpy as np

from .detect import cv2_module

REGIONS = ("torso", "thighs", "shins")
#: (region, a, b) segments sampled for the limbs, left and right together (a swap of sides changes nothing)
_LIMBS = {"thighs": ((1, 2), (4, 5)), "shins": ((2, 3), (5, 6))}
#: the torso's corners: left shoulder, right shoulder, right hip, left hip
_TORSO = (11, 14, 1, 4)
#: weight of lightness against the two colour axes (shade changes lightness more than colour)
LIGHTNESS_WEIGHT = 0.5


def sample_points(keypoints: np.ndarray, across: int = 5, along: int = 6, limb: int = 8) -> np.ndarray:
    """(N, 17, 2) H36M keypoints, pixels -> (N, 3, P, 2) sample points per region (P = across * along, and
    2 * limb points on the limbs, padded with NaN). The grid keeps off the region's edges (15-20 % in), where
    the background shows."""
    kp = np.asarray(keypoints, float)
    n = len(kp)
    u = np.linspace(0.2, 0.8, across)[None, :, None]
    v = np.linspace(0.15, 0.85, along)[None, :, None, None]
    ls, rs, rh, lh = (kp[:, j] for j in _TORSO)
    top = ls[:, None] + (rs - ls)[:, None] * u  # (N, across, 2)
    bottom = lh[:, None] + (rh - lh)[:, None] * u
    torso = (top[:, None] + (bottom - top)[:, None] * v).reshape(n, -1, 2)
    t = np.linspace(0.15, 0.85, limb)[None, :, None]
    limbs = [np.concatenate([kp[:, a, None] + (kp[:, b] - kp[:, a])[:, None] * t for a, b in _LIMBS[r]], 1)
             for r in REGIONS[1:]]
    p = max(torso.shape[1], 2 * limb)
    out = np.full((n, len(REGIONS), p, 2), np.nan)
    for k, pts in enumerate([torso, *limbs]):
        out[:, k, :pts.shape[1]] = pts
    return out


def describe(frame: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """RGB frame (H, W, 3) uint8 and (N, 17, 2) keypoints in it -> (N, 3, 3) median Lab per region; NaN for a
    region with no sample inside the frame."""
    h, w = frame.shape[:2]
    pts = sample_points(keypoints)
    inside = np.isfinite(pts).all(-1)
    inside &= (pts[..., 0] >= 0) & (pts[..., 0] <= w - 1) & (pts[..., 1] >= 0) & (pts[..., 1] <= h - 1)
    x = np.where(inside, np.nan_to_num(pts[..., 0]), 0).round().astype(int)
    y = np.where(inside, np.nan_to_num(pts[..., 1]), 0).round().astype(int)
    rgb = frame[y, x].reshape(-1, 1, 3)  # every sample at once: one colour conversion
    cv2 = cv2_module()
    lab = cv2.cvtColor(np.ascontiguousarray(rgb, np.uint8), cv2.COLOR_RGB2LAB)
    lab = lab.reshape(*x.shape, 3).astype(float)
    lab[~inside] = np.nan
    return typical(np.moveaxis(lab, 2, 0))  # (P, N, 3, 3) -> the median over the samples


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(..., 3, 3) descriptors, broadcast -> (...) mean over the regions both have of the Lab distance (lightness
    weighted by ``LIGHTNESS_WEIGHT``); NaN when they share no region."""
    weight = np.array([LIGHTNESS_WEIGHT, 1.0, 1.0])
    d = np.sqrt((((np.asarray(a, float) - np.asarray(b, float)) * weight) ** 2).sum(-1))  # (..., 3), NaN if either
    n = np.isfinite(d).sum(-1)
    total = np.where(np.isfinite(d), d, 0.0).sum(-1)
    return np.where(n > 0, total / np.maximum(n, 1), np.nan)


def typical(descriptors: np.ndarray) -> np.ndarray:
    """(T, ...) colours of one person over several frames (or samples) -> (...) their median, NaN-aware: one
    frame's mislocated keypoint or a passer-by in front does not move it."""
    d = np.asarray(descriptors, float)
    if not len(d) or not np.isfinite(d).any():
        return np.full(d.shape[1:] or (len(REGIONS), 3), np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a region NaN in every frame stays NaN
        return np.nanmedian(d, axis=0)
