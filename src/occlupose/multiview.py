"""Calibrated multi-camera geometry for building 3D references from several synchronised videos: camera models
with lens distortion, Qualisys ``.qca`` calibration files, undistortion, and weighted DLT triangulation batched
over frames and joints.

Conventions: world points in metres; a camera maps world X to its frame by ``R @ X + t`` (x right, y down,
z forward, as everywhere in occlupose); pixels have y down. Distortion uses OpenCV's Brown-Conrady order
(k1, k2, p1, p2, k3).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Camera:
    name: str
    #: image (width, height) in pixels
    size: tuple[int, int]
    #: (3, 3) intrinsic matrix, pixels
    K: np.ndarray
    #: (5,) k1, k2, p1, p2, k3
    dist: np.ndarray
    #: (3, 3) world -> camera rotation
    R: np.ndarray
    #: (3,) world -> camera translation, metres
    t: np.ndarray

    @property
    def centre(self) -> np.ndarray:
        """(3,) the camera's position in the world."""
        return -self.R.T @ self.t

    @property
    def P(self) -> np.ndarray:
        """(3, 4) projection of undistorted normalised coordinates: [R | t]."""
        return np.concatenate([self.R, self.t[:, None]], 1)

    def to_camera(self, X: np.ndarray) -> np.ndarray:
        """(..., 3) world -> (..., 3) camera frame."""
        return np.asarray(X) @ self.R.T + self.t

    def project(self, X: np.ndarray) -> np.ndarray:
        """(..., 3) world points -> (..., 2) pixels, with lens distortion."""
        c = self.to_camera(X)
        return self.distort(c[..., :2] / c[..., 2:3])

    def distort(self, xy: np.ndarray) -> np.ndarray:
        """(..., 2) undistorted normalised coordinates -> (..., 2) pixels."""
        k1, k2, p1, p2, k3 = self.dist
        x, y = xy[..., 0], xy[..., 1]
        r2 = x * x + y * y
        radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        K = self.K
        return np.stack([K[0, 0] * xd + K[0, 1] * yd + K[0, 2], K[1, 1] * yd + K[1, 2]], -1)

    def undistort(self, uv: np.ndarray, iterations: int = 20) -> np.ndarray:
        """(..., 2) pixels -> (..., 2) undistorted normalised coordinates (fixed-point inversion of
        :meth:`distort`, as OpenCV's ``undistortPoints``)."""
        K = self.K
        yd = (uv[..., 1] - K[1, 2]) / K[1, 1]
        xd = (uv[..., 0] - K[0, 2] - K[0, 1] * yd) / K[0, 0]
        k1, k2, p1, p2, k3 = self.dist
        x, y = xd.copy(), yd.copy()
        for _ in range(iterations):
            r2 = x * x + y * y
            radial = 1 + k1 * r2 + k2 * r2**2 + k3 * r2**3
            dx = 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
            dy = p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
            x, y = (xd - dx) / radial, (yd - dy) / radial
        return np.stack([x, y], -1)


def read_qca(path: str | Path) -> list[Camera]:
    """Cameras of a Qualisys calibration export (``*.qca.txt``, XML).

    Qualisys stores intrinsics in sub-pixel sensor units (64 per pixel), each camera's position (mm) and a
    rotation whose rows are the camera's axes in the world, with the camera looking down its -z axis and y up;
    occlupose's cameras look down +z with y down, hence the flip of y and z. The distortion terms are divided
    by 64 as Pose2Sim's converter does (on its demo data they change reprojections by well under a pixel).
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise ValueError(f"{path}: not a readable Qualisys calibration ({exc})") from exc
    cams = []
    flip = np.diag([1.0, -1.0, -1.0])
    for cam in root.iter("camera"):
        if cam.get("active", "1") == "0":
            continue
        fov, tr, it = cam.find("fov_video"), cam.find("transform"), cam.find("intrinsic")
        if fov is None or tr is None or it is None:
            raise ValueError(f"{path}: camera {cam.get('serial')} lacks fov_video, transform or intrinsic")
        w = int(fov.get("right")) - int(fov.get("left")) + 1
        h = int(fov.get("bottom")) - int(fov.get("top")) + 1
        sub = 64.0
        f = {k: float(v) for k, v in it.attrib.items()}.__getitem__
        K = np.array([[f("focalLengthU") / sub, f("skew") / sub, f("centerPointU") / sub - int(fov.get("left"))],
                      [0.0, f("focalLengthV") / sub, f("centerPointV") / sub - int(fov.get("top"))],
                      [0.0, 0.0, 1.0]])
        dist = np.array([f("radialDistortion1"), f("radialDistortion2"), f("tangentalDistortion1"),
                         f("tangentalDistortion2"), f("radialDistortion3")]) / sub
        axes = np.array([[float(tr.get(f"r{i}{j}")) for j in (1, 2, 3)] for i in (1, 2, 3)])
        centre = np.array([float(tr.get(k)) for k in "xyz"]) / 1000.0
        R = flip @ axes
        cams.append(Camera(cam.get("serial", str(len(cams))), (w, h), K, dist, R, -R @ centre))
    if not cams:
        raise ValueError(f"{path}: no active camera")
    return cams


def triangulate(xy: np.ndarray, weights: np.ndarray, projections: np.ndarray) -> np.ndarray:
    """Weighted DLT. ``xy`` (V, ..., 2) undistorted normalised coordinates seen by V cameras, ``weights``
    (V, ...) >= 0 (0: not seen), ``projections`` (V, 3, 4). Returns (..., 3) world points; NaN where fewer
    than two views have weight."""
    xy = np.asarray(xy, np.float64)
    w = np.asarray(weights, np.float64)
    P = np.asarray(projections, np.float64)
    v = len(P)
    lead = xy.shape[1:-1]
    xy = xy.reshape(v, -1, 2)
    w = w.reshape(v, -1)
    rows_x = xy[..., 0:1] * P[:, None, 2] - P[:, None, 0]  # (V, N, 4)
    rows_y = xy[..., 1:2] * P[:, None, 2] - P[:, None, 1]
    A = np.concatenate([rows_x * w[..., None], rows_y * w[..., None]], 0).transpose(1, 0, 2)  # (N, 2V, 4)
    _, _, vt = np.linalg.svd(A)
    X = vt[:, -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        X = X[:, :3] / X[:, 3:4]
    X[(w > 0).sum(0) < 2] = np.nan
    return X.reshape(*lead, 3)
