"""Cameras: world->camera transforms, projections, screen normalisation and the paper's virtual views.

Conventions. World data (our mocap, Human3.6M) is **Z-up**, metres. The camera frame is the usual
computer-vision one: x right, y down, z forward (depth > 0 in front of the camera). The paper's "y axis"
of the virtual cameras (Sec. 4.2) is the vertical one, i.e. world Z here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .validate import at_least, positive

#: World (Z-up) -> a level camera looking along world +y: x_cam = x, y_cam = -z (down), z_cam = y.
LEVEL_CAMERA = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def rot_x(a: np.ndarray) -> np.ndarray:
    """(...,) angles -> (..., 3, 3) rotations about x."""
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([o, z, z, z, c, -s, z, s, c], axis=-1).reshape(*np.shape(a), 3, 3)


def rot_y(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([c, z, s, z, o, z, -s, z, c], axis=-1).reshape(*np.shape(a), 3, 3)


def rot_z(a: np.ndarray) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    return np.stack([c, -s, z, s, c, z, z, z, o], axis=-1).reshape(*np.shape(a), 3, 3)


def ray_rotations(uv: np.ndarray) -> np.ndarray:
    """(..., 2) image positions in focal-length units (principal point at 0) -> (..., 3, 3) the smallest rotation
    taking the optical axis (+z) onto the viewing ray through each: a person away from the image centre is seen
    along that ray, not along the axis, so a pose lifted as if on the axis is turned by it into the camera frame
    (``X_cam = R X_ray``)."""
    uv = np.asarray(uv, dtype=np.float64)
    d = np.concatenate([uv, np.ones_like(uv[..., :1])], -1)
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    axis = np.stack([-d[..., 1], d[..., 0], np.zeros_like(d[..., 0])], -1)  # z x d: |z x d| = sin(angle)
    s, c = np.linalg.norm(axis, axis=-1), d[..., 2]
    k = axis / np.maximum(s, 1e-12)[..., None]
    z = np.zeros_like(s)
    cross = np.stack([z, -k[..., 2], k[..., 1], k[..., 2], z, -k[..., 0], -k[..., 1], k[..., 0], z],
                     -1).reshape(*s.shape, 3, 3)
    return np.eye(3) + s[..., None, None] * cross + (1 - c)[..., None, None] * (cross @ cross)  # Rodrigues


def seen_along_rays(points: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """(..., T, J, 2) image points and (..., T, 2) centres, focal-length units -> the points as a camera turned
    onto each frame's centre ray (:func:`ray_rotations`) would see them: the person straight ahead of it, so that
    the image plane's slant off the axis does not stretch their 2D."""
    rays = np.concatenate([points, np.ones_like(points[..., :1])], -1)
    turned = rays @ ray_rotations(centre)  # R^T ray, as row vectors: (..., T, J, 3) @ (..., T, 3, 3)
    return turned[..., :2] / turned[..., 2:]


def world_to_camera(points: np.ndarray, rotation: np.ndarray, translation: np.ndarray | None = None) -> np.ndarray:
    """``X_cam = R X_world + t`` for (..., N, 3) points, (..., 3, 3) R and (..., 3) t."""
    out = np.einsum("...ij,...nj->...ni", rotation, points)
    if translation is not None:
        out = out + np.asarray(translation)[..., None, :]
    return out


def camera_to_world(points: np.ndarray, rotation: np.ndarray, translation: np.ndarray | None = None) -> np.ndarray:
    """Inverse of :func:`world_to_camera`."""
    if translation is not None:
        points = points - np.asarray(translation)[..., None, :]
    return np.einsum("...ji,...nj->...ni", rotation, points)


def project_orthographic(points: np.ndarray) -> np.ndarray:
    """(..., 3) camera-frame points -> (..., 2): drop depth (the paper's projection, Eq. 5 and Sec. 4)."""
    return points[..., :2]


def project_perspective(points: np.ndarray, focal: np.ndarray | float, center: np.ndarray | float = 0.0) -> np.ndarray:
    """Pinhole projection of (..., 3) camera-frame points: ``f * (x, y) / z + c``.

    ``focal`` and ``center`` broadcast against ``points[..., :2]`` (scalar, (2,), or per batch).
    """
    z = points[..., 2:3]
    if np.any(z <= 0):
        raise ValueError("perspective projection of a point at or behind the camera (z <= 0)")
    return np.asarray(focal) * points[..., :2] / z + np.asarray(center)


def normalize_screen_coordinates(x: np.ndarray, w: float, h: float) -> np.ndarray:
    """Pixels -> [-1, 1] across the width, aspect ratio kept (VideoPose3D's convention)."""
    return x / w * 2 - np.array([1.0, h / w], dtype=x.dtype)


def image_coordinates(x: np.ndarray, w: float, h: float) -> np.ndarray:
    """Inverse of :func:`normalize_screen_coordinates`."""
    return (x + np.array([1.0, h / w], dtype=x.dtype)) * w / 2


@dataclass(frozen=True)
class VirtualViewConfig:
    """Sec. 4.2: tilt (about camera x) and roll (about camera z) on a grid within +-0.2 pi in 0.02 pi steps,
    azimuth about the vertical axis uniform in [-pi, pi]."""

    max_tilt: float = 0.2 * np.pi
    tilt_step: float = 0.02 * np.pi
    max_roll: float = 0.2 * np.pi
    roll_step: float = 0.02 * np.pi

    def __post_init__(self) -> None:
        at_least(self, 0.0, "max_tilt", "max_roll")
        positive(self, "tilt_step", "roll_step")


def sample_virtual_rotations(n: int, rng: np.random.Generator, cfg: VirtualViewConfig = VirtualViewConfig()
                             ) -> np.ndarray:
    """(n, 3, 3) world(Z-up)->camera rotations of random virtual views around a root-centred subject.

    ``R = R_roll(z_cam) @ R_tilt(x_cam) @ LEVEL_CAMERA @ R_azimuth(z_world)``: the subject turns about the
    vertical axis, then the level camera tilts and rolls, so the subject is never upside down.
    """
    n_tilt = int(round(cfg.max_tilt / cfg.tilt_step))
    n_roll = int(round(cfg.max_roll / cfg.roll_step))
    tilt = rng.integers(-n_tilt, n_tilt + 1, size=n) * cfg.tilt_step
    roll = rng.integers(-n_roll, n_roll + 1, size=n) * cfg.roll_step
    azimuth = rng.uniform(-np.pi, np.pi, size=n)
    return rot_z(roll) @ rot_x(tilt) @ LEVEL_CAMERA @ rot_z(azimuth)


def studio_rotations(azimuth: np.ndarray, tilt: float | np.ndarray = 0.0) -> np.ndarray:
    """(..., 3, 3) world(Z-up)->camera rotations of fixed cameras around a subject: the level camera turned by
    ``azimuth`` about the vertical, then looking down by ``tilt`` (radians; negative looks up)."""
    azimuth = np.asarray(azimuth, dtype=np.float64)
    return rot_x(np.broadcast_to(np.asarray(tilt, dtype=np.float64), azimuth.shape)) @ LEVEL_CAMERA @ rot_z(azimuth)


def look_at_translation(distance: np.ndarray | float) -> np.ndarray:
    """(..., 3) translation that puts a root-centred subject ``distance`` metres in front of the camera."""
    d = np.asarray(distance, dtype=float)
    return np.stack([np.zeros_like(d), np.zeros_like(d), d], axis=-1)
