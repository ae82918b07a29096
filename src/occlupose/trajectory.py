"""Where a person is: the root (pelvis) position per frame, in metres in the camera frame (x right, y down,
z forward), from the lifter's root-relative 3D pose, the 2D keypoints and the camera's focal length.

A pinhole camera sees joint j of a pose P (root-relative, metres) placed at root t at
``(u_j - cx) / f = (X_j + tx) / (Z_j + tz)`` and likewise for v. With P known (the lifter's output) each of
these is linear in t, so every frame's root is a weighted least-squares solution over its joints (weights:
the joints' confidences; the equations are divided by the joint's depth and solved again, so what is
minimised is the reprojection error, not an algebraic one). No training is involved: the lifter's metric pose
sets the depth, and a pose predicted 5 % too small puts the person 5 % too near. The per-frame roots are then
filled where too few joints were seen and smoothed over time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .occlusion import _fill_missing
from .smoothing import MODES as SMOOTHING_MODES
from .smoothing import OneEuroConfig, smooth
from .validate import at_least, positive, within

#: the field of view assumed across the image's longer side when the camera is unknown: a phone's main
#: camera or a webcam filming 16:9 video is 60-70 degrees; wide-angle action cameras are far more
DEFAULT_FOV_DEG = 65.0


@dataclass(frozen=True)
class Intrinsics:
    """A pinhole camera in pixels: focal length and principal point."""

    focal: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        positive(self, "focal")

    def record(self, note: str) -> dict:
        """What the result files say of the camera: focal length, principal point, and how it was chosen."""
        return {"focal_px": round(self.focal, 2), "cx": self.cx, "cy": self.cy, "note": note}


def intrinsics_for(width: int, height: int, focal: float | None = None, fov_deg: float | None = None
                   ) -> tuple[Intrinsics, str]:
    """The camera of a ``width`` x ``height`` video: ``focal`` pixels if known, else from ``fov_deg`` (across
    the width, as cameras state it), else :data:`DEFAULT_FOV_DEG` across the longer side. Returns it with a
    sentence saying which assumption was made (for the user to read)."""
    if focal is not None and fov_deg is not None:
        raise ValueError("give the focal length or the field of view, not both")
    if focal is not None:
        if not (math.isfinite(focal) and focal > 0):
            raise ValueError(f"the focal length must be a positive number of pixels, got {focal}")
        f, said = float(focal), f"focal length {focal:g} px (given)"
    elif fov_deg is not None:
        if not (math.isfinite(fov_deg) and 1.0 <= fov_deg <= 179.0):
            raise ValueError(f"the field of view must be between 1 and 179 degrees, got {fov_deg}")
        f = width / 2 / math.tan(math.radians(fov_deg) / 2)
        said = f"focal length {f:.0f} px from a {fov_deg:g} degree horizontal field of view (given)"
    else:
        f = max(width, height) / 2 / math.tan(math.radians(DEFAULT_FOV_DEG) / 2)
        said = (f"focal length {f:.0f} px, assumed ({DEFAULT_FOV_DEG:g} degrees across the longer side; give "
                "--focal or --fov for metric positions)")
    return Intrinsics(f, width / 2, height / 2), said


@dataclass(frozen=True)
class TrajectoryConfig:
    #: frames with fewer usable joints take their root from the frames around them
    min_joints: int = 4
    #: joints below this confidence do not place the person
    min_confidence: float = 0.3
    #: reweighting rounds that turn the algebraic error into the reprojection error
    iterations: int = 3
    #: the root over time: forwards-backwards One Euro (occlupose.smoothing), "none" to keep per-frame roots
    smoothing: str = "one_euro_fb"
    one_euro: OneEuroConfig = OneEuroConfig()

    def __post_init__(self) -> None:
        within(self, 0.0, 1.0, "min_confidence")
        at_least(self, 2, "min_joints", integer=True)
        at_least(self, 1, "iterations", integer=True)
        if self.smoothing not in SMOOTHING_MODES:
            raise ValueError(f"unknown smoothing {self.smoothing!r}; expected one of {SMOOTHING_MODES}")


def solve_root(poses: np.ndarray, keypoints: np.ndarray, weights: np.ndarray, camera: Intrinsics,
               iterations: int = 3, min_joints: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame roots: poses (T, 17, 3) metres root-relative, keypoints (T, 17, 2) pixels (NaN: none), weights
    (T, 17) >= 0. Returns (root (T, 3) metres, solved (T,) bool); unsolved frames are NaN."""
    p = np.asarray(poses, np.float64)
    kp = np.asarray(keypoints, np.float64)
    w = np.where(np.isfinite(kp).all(-1), np.clip(np.asarray(weights, np.float64), 0.0, None), 0.0)
    a = (np.nan_to_num(kp[..., 0]) - camera.cx) / camera.focal  # (T, J) normalised image coordinates
    b = (np.nan_to_num(kp[..., 1]) - camera.cy) / camera.focal
    x, y, z = p[..., 0], p[..., 1], p[..., 2]
    zeros, ones = np.zeros_like(a), np.ones_like(a)
    # rows [1, 0, -a] t = a Z - X and [0, 1, -b] t = b Z - Y, per joint
    rows = np.stack([np.stack([ones, zeros, -a], -1), np.stack([zeros, ones, -b], -1)], -2)  # (T, J, 2, 3)
    rhs = np.stack([a * z - x, b * z - y], -1)  # (T, J, 2)
    used = (w > 0).sum(-1) >= min_joints
    root = np.full((len(p), 3), np.nan)
    depth_w = w
    for _ in range(iterations):
        m = rows * depth_w[..., None, None]
        lhs = np.einsum("tjki,tjkl->til", m, rows)
        # a frame with too few joints is singular: a tiny ridge, relative to the system's size, keeps it solvable
        lhs = lhs + (1e-12 * np.trace(lhs, axis1=-2, axis2=-1) + 1e-300)[:, None, None] * np.eye(3)
        vec = np.einsum("tjki,tjk->ti", m, rhs)
        root = np.linalg.solve(lhs, vec[..., None])[..., 0]
        # in front of the camera, then weigh each equation by 1 / depth^2: the reprojection error in pixels
        depth = z + root[:, 2:3]
        ok = np.all(depth > 0.05, axis=-1) | ~used
        depth_w = w / np.maximum(depth, 0.05) ** 2
        used &= ok
    root[~used] = np.nan
    return root, used


#: frames over which C* is averaged into the weights of :func:`onto_rays` (as the lifter's input encoding
#: averages it): one frame's C* flickers, and a weight that flickers makes the 3D jump (measured: docs/results.md,
#: "The 3D pulled onto the 2D")
ONTO_FRAMES = 5


def onto_weights(confidence: np.ndarray, causal: bool = False) -> np.ndarray:
    """(T, J) C* -> (T, J) weights for :func:`onto_rays`: C* averaged over :data:`ONTO_FRAMES` frames centred on
    each (``causal``: the frame and the ones before)."""
    from .encoding import InputEncoding, average_confidence

    conf = np.asarray(confidence, np.float64)
    exists = np.isfinite(conf)
    return average_confidence(np.where(exists, conf, 0.0), exists,
                              InputEncoding(confidence_frames=ONTO_FRAMES, causal=causal))


def onto_rays(poses: np.ndarray, root: np.ndarray, keypoints: np.ndarray, weights: np.ndarray, camera: Intrinsics,
              share: float) -> tuple[np.ndarray, np.ndarray]:
    """Each joint moved ``share * weight`` of the way, at the depth the lifter gave it, onto the camera ray
    through its 2D keypoint: the lifter's 3D, seen through the camera, then agrees with the 2D it was lifted
    from. Why: on real video the lifter's 3D reprojects 13-39 px from keypoints that are themselves within
    8-20 px of the truth (a lifter trained on mocap, run on other bodies and motions), so the 2D knows where the
    limbs are better than the 3D does (docs/results.md, "The 3D pulled onto the 2D").

    poses (T, J, 3) metres root-relative and root (T, 3) metres in the camera frame; keypoints (T, J, 2) px;
    weights (T, J) in [0, 1] (0: the joint stays where the lifter put it; :func:`onto_weights`: C* over a few
    frames, so that a joint whose 2D is not trusted moves little).
    Returns (poses, root) with the poses root-relative again (the root takes its joint's shift, so that root +
    poses is what reprojects). Frames without a root, keypoints or a joint in front of the camera are left."""
    p = np.asarray(poses, np.float64)
    r = np.asarray(root, np.float64)
    kp = np.asarray(keypoints, np.float64)
    z = p[..., 2] + r[:, None, 2]
    w = share * np.clip(np.asarray(weights, np.float64), 0.0, 1.0)
    w = np.where(np.isfinite(kp).all(-1) & np.isfinite(r).all(-1)[:, None] & (z > 1e-6), w, 0.0)
    target = np.stack([(kp[..., 0] - camera.cx) / camera.focal * z - r[:, None, 0],
                       (kp[..., 1] - camera.cy) / camera.focal * z - r[:, None, 1]], -1)  # (T, J, 2) on the rays
    moved = p.copy()
    moved[..., :2] += w[..., None] * np.where(w[..., None] > 0, target - p[..., :2], 0.0)
    shift = moved[:, 0].copy()
    return moved - shift[:, None], r + shift


def trajectory(poses: np.ndarray, keypoints: np.ndarray, confidence: np.ndarray, times: np.ndarray,
               camera: Intrinsics, cfg: TrajectoryConfig = TrajectoryConfig()) -> np.ndarray:
    """One person's root (T, 3), metres in the camera frame: :func:`solve_root` on the joints whose confidence
    reaches ``cfg.min_confidence``, filled over time where a frame had too few, smoothed. NaN only when no frame
    could be placed."""
    conf = np.asarray(confidence, np.float64)
    w = np.where(conf >= cfg.min_confidence, conf, 0.0)
    root, solved = solve_root(poses, keypoints, w, camera, cfg.iterations, cfg.min_joints)
    if not solved.any():
        return root
    root = _fill_missing(np.where(solved[:, None], root, 0.0), solved)
    height = np.ptp(np.asarray(poses, np.float64)[..., 1], axis=-1).mean() if len(root) else 1.0
    return smooth(root, np.asarray(times, np.float64), max(height, 0.5), cfg.smoothing, cfg.one_euro)
