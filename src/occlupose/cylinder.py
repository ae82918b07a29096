"""The Cylinder Man Model (paper Sec. 4.1, Eq. 7): self-occlusion of the 17 joints from any viewpoint.

Ten cylinders approximate the body: head (r = 10 cm), torso (r = neck-shoulder distance), upper/lower arms,
thighs and lower legs (r = 5 cm). A joint ``P`` is occluded by a cylinder when its projection falls in the
cylinder's projected silhouette and it lies behind the camera-facing plane through the cylinder's axis
(Eq. 7's ``(P - P_i) . n_ij < 0``). Everything is batched torch and differentiable in the soft mode.

Choices the paper leaves open, written down here:

* The silhouette is the paper's rectangle A'B'C'D' (half-width r around the projected axis), extended at each
  end by the projected end cap (``r |a_z|`` along the axis, ``a`` the unit axis): a limb pointing at the
  camera then covers a disc of radius r instead of vanishing.
* The plane ABCD contains the axis and the image-plane direction perpendicular to it, so "behind the plane"
  at the joint's image position is ``z_P > z_axis(t)``, t being the joint's position along the projected axis
  (clamped to the segment). This is Eq. 7, and stays defined when the axis points at the camera.
* A joint is never occluded by a cylinder it is an endpoint of, and the spine (on the torso axis) never by the
  torso. A real torso is much flatter than the paper's circular one (radius = neck-shoulder distance): hips
  and shoulders sit inside it, and arms hanging at the sides graze it. So a joint counts as occluded by the
  torso only when more than ``torso_margin`` behind its plane: hips, shoulders and arms at the sides are
  visible from the front and the back and hidden from the side, as on a real body.
* With perspective, points are projected with a pinhole camera (focal 1); the silhouette half-width is
  ``r / z`` at the axis point, and all soft comparisons are made in metres so the sharpness means the same.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

from .skeleton import NUM_JOINTS, J
from .validate import at_least, positive

#: The ten parts: (start joint, end joint). Order: head, torso, l/r upper arm, l/r lower arm,
#: l/r thigh, l/r lower leg.
CYLINDER_NAMES = ("head", "torso", "l_upper_arm", "r_upper_arm", "l_lower_arm", "r_lower_arm",
                  "l_thigh", "r_thigh", "l_lower_leg", "r_lower_leg")
CYL_START = np.array([J["neck_nose"], J["hip"], J["l_shoulder"], J["r_shoulder"], J["l_elbow"], J["r_elbow"],
                      J["l_hip"], J["r_hip"], J["l_knee"], J["r_knee"]])
CYL_END = np.array([J["head"], J["thorax"], J["l_elbow"], J["r_elbow"], J["l_wrist"], J["r_wrist"],
                    J["l_knee"], J["r_knee"], J["l_ankle"], J["r_ankle"]])
NUM_CYLINDERS = len(CYLINDER_NAMES)
TORSO = 1


@dataclass(frozen=True)
class CylinderConfig:
    """Radii in metres (paper: head 10 cm, limbs 5 cm, torso = neck-shoulder distance when None)."""

    head_radius: float = 0.10
    limb_radius: float = 0.05
    torso_radius: float | None = None
    torso_margin: float = 0.08
    #: soft mode: brackets become sigmoid(sharpness * x), x in metres
    sharpness: float = 200.0

    def __post_init__(self) -> None:
        positive(self, "head_radius", "limb_radius", "sharpness")
        at_least(self, 0.0, "torso_margin")
        if self.torso_radius is not None:
            positive(self, "torso_radius")


def _margin_matrix(torso_margin: float) -> np.ndarray:
    """(17, 10) depth margins: +inf where a joint can never be occluded by a cylinder."""
    m = np.zeros((NUM_JOINTS, NUM_CYLINDERS))
    m[CYL_START, np.arange(NUM_CYLINDERS)] = np.inf
    m[CYL_END, np.arange(NUM_CYLINDERS)] = np.inf
    m[:, TORSO] = torso_margin
    m[[J["hip"], J["thorax"], J["spine"]], TORSO] = np.inf
    return m


def radii(poses: torch.Tensor, cfg: CylinderConfig) -> torch.Tensor:
    """(..., 17, 3) -> (..., 10) cylinder radii in metres."""
    shape = poses.shape[:-2]
    r = torch.full((*shape, NUM_CYLINDERS), cfg.limb_radius, dtype=poses.dtype, device=poses.device)
    r[..., 0] = cfg.head_radius
    if cfg.torso_radius is None:
        thorax = poses[..., J["thorax"], :]
        shoulders = poses[..., [J["l_shoulder"], J["r_shoulder"]], :]
        r[..., TORSO] = torch.linalg.norm(shoulders - thorax[..., None, :], dim=-1).mean(-1)
    else:
        r[..., TORSO] = cfg.torso_radius
    return r


def _axes(poses_cam: torch.Tensor, r: torch.Tensor, perspective: bool):
    """What Eq. 7 needs of the cylinders' axes: (start points (..., 10, 3), the axes' depth extents (..., 10),
    the projected end-cap extensions r |a_z| / |a| in metres (..., 10), the joints' image positions px, py
    (..., 17), the axes' projected ends ax, ay, bx, by (..., 10))."""
    a3 = poses_cam[..., CYL_START, :]
    b3 = poses_cam[..., CYL_END, :]
    axis = b3 - a3
    az = axis[..., 2]
    ext = r * az.abs() / torch.linalg.norm(axis, dim=-1).clamp_min(1e-9)
    if perspective:
        z = poses_cam[..., 2].clamp_min(1e-6)
        za, zb = a3[..., 2].clamp_min(1e-6), b3[..., 2].clamp_min(1e-6)
        px, py = poses_cam[..., 0] / z, poses_cam[..., 1] / z
        ax, ay, bx, by = a3[..., 0] / za, a3[..., 1] / za, b3[..., 0] / zb, b3[..., 1] / zb
    else:
        px, py = poses_cam[..., 0], poses_cam[..., 1]
        ax, ay, bx, by = a3[..., 0], a3[..., 1], b3[..., 0], b3[..., 1]
    return a3, az, ext, px, py, ax, ay, bx, by


def _terms(poses_cam: torch.Tensor, r: torch.Tensor, perspective: bool):
    """Signed quantities of Eq. 7 for every (joint, cylinder) pair, each (..., 17, 10), in metres.

    Positive means "the bracket holds": inside the silhouette across / along the axis, behind the plane.
    x and y are kept as separate tensors: reductions over a trailing dimension of 2 are slow on the CPU.
    """
    a3, az, ext, px, py, ax, ay, bx, by = _axes(poses_cam, r, perspective)
    ux, uy = bx - ax, by - ay
    ulen = (ux * ux + uy * uy).sqrt().clamp_min(1e-9)  # (..., 10)
    ux, uy = (ux / ulen)[..., None, :], (uy / ulen)[..., None, :]
    relx = px[..., :, None] - ax[..., None, :]  # (..., 17, 10)
    rely = py[..., :, None] - ay[..., None, :]
    along = relx * ux + rely * uy
    # distance across the axis; equals |rel| when the axis projects to a point (u = 0)
    across = (relx * relx + rely * rely - along * along).clamp_min(1e-12).sqrt()
    t = (along / ulen[..., None, :]).clamp(0.0, 1.0)
    z_axis = a3[..., None, :, 2] + t * az[..., None, :]
    behind = poses_cam[..., :, None, 2] - z_axis
    ulen, ext, r = ulen[..., None, :], ext[..., None, :], r[..., None, :]
    if perspective:  # 2D distances back to metres at the axis depth
        along, across, ulen = along * z_axis, across * z_axis, ulen * z_axis
    return r - across, along + ext, ulen - along + ext, behind


@functools.lru_cache(maxsize=16)
def _margins(torso_margin: float, dtype: torch.dtype, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    m = torch.as_tensor(_margin_matrix(torso_margin), dtype=dtype, device=device)
    finite = torch.isfinite(m)
    return torch.where(finite, m, torch.zeros_like(m)), finite


def _occlusion(x: torch.Tensor, cfg: CylinderConfig, soft: bool, perspective: bool) -> torch.Tensor:
    """(..., 17, 10) occlusion of each joint by each cylinder: bool, or soft in [0, 1]."""
    across, start, end, behind = _terms(x, radii(x, cfg), perspective)
    margin, finite = _margins(cfg.torso_margin, x.dtype, str(x.device))
    behind = behind - margin
    if soft:
        k = cfg.sharpness
        return (torch.sigmoid(k * across) * torch.sigmoid(k * start) * torch.sigmoid(k * end)
                * torch.sigmoid(k * behind)) * finite
    return (across > 0) & (start > 0) & (end > 0) & (behind > 0) & finite


def _hidden(x: torch.Tensor, cfg: CylinderConfig, perspective: bool) -> torch.Tensor:
    """(N, 17, 3) -> (N, 17) bool: hidden by any cylinder. The hard brackets of :func:`_occlusion` with fewer
    passes over the (N, 17, 10) pairs (squared distances, in-place updates): the training batches' labels are
    most of their cost."""
    r = radii(x, cfg)
    a3, az, ext, px, py, ax, ay, bx, by = _axes(x, r, perspective)
    ext = ext[:, None]
    ux, uy = bx - ax, by - ay
    ulen = (ux * ux + uy * uy).sqrt().clamp_min(1e-9)
    ux, uy, ulen = (ux / ulen)[:, None], (uy / ulen)[:, None], ulen[:, None]
    relx = px[:, :, None] - ax[:, None]  # (N, 17, 10)
    rely = py[:, :, None] - ay[:, None]
    along = (relx * ux).addcmul_(rely, uy)
    z_axis = (along / ulen).clamp_(0.0, 1.0).mul_(az[:, None]).add_(a3[:, None, :, 2])
    margin, finite = _margins(cfg.torso_margin, x.dtype, str(x.device))
    hid = ((x[:, :, None, 2] - z_axis) > margin) & finite
    across2 = relx.mul_(relx).addcmul_(rely, rely).addcmul_(along, along, value=-1).clamp_(min=1e-12)
    r2 = (r * r)[:, None]
    if perspective:  # across * z_axis < r, in metres at the axis depth
        hid &= (across2 * (z_axis * z_axis) < r2) | (z_axis <= 0)
        hid &= along * z_axis + ext > 0
        hid &= (ulen - along) * z_axis + ext > 0
    else:
        hid &= across2 < r2
        hid &= along + ext > 0
        hid &= ulen - along + ext > 0
    return hid.any(-1)


def visibility(poses_cam: torch.Tensor | np.ndarray, cfg: CylinderConfig = CylinderConfig(),
               soft: bool = False, perspective: bool = False, chunk: int = 2048) -> torch.Tensor | np.ndarray:
    """Visibility of each joint, (..., 17, 3) camera-frame poses -> (..., 17).

    Camera frame: x right, y down, z forward (depth). Hard mode returns bool (Eq. 7's Iverson brackets),
    computed without autograd in cache-sized chunks of poses; soft mode returns values in [0, 1] where every
    bracket is ``sigmoid(cfg.sharpness * x)``, differentiable with respect to the joints.
    Numpy in -> numpy out.
    """
    as_numpy = isinstance(poses_cam, np.ndarray)
    x = torch.as_tensor(poses_cam) if as_numpy else poses_cam
    if x.shape[-2:] != (NUM_JOINTS, 3):
        raise ValueError(f"poses must be (..., {NUM_JOINTS}, 3), got {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.float()
    if soft:
        out = torch.prod(1.0 - _occlusion(x, cfg, True, perspective), dim=-1)
    else:
        flat = x.reshape(-1, NUM_JOINTS, 3)
        with torch.no_grad():
            out = torch.cat([~_hidden(c, cfg, perspective) for c in flat.split(chunk)])
        out = out.reshape(x.shape[:-1])
    return out.numpy() if as_numpy else out


def occluders(poses_cam: np.ndarray, cfg: CylinderConfig = CylinderConfig(), perspective: bool = False
              ) -> np.ndarray:
    """(..., 17, 10) bool: which cylinders hide each joint (for inspection and pictures)."""
    return _occlusion(torch.as_tensor(poses_cam, dtype=torch.float64), cfg, False, perspective).numpy()


def rotate(poses: torch.Tensor | np.ndarray, rotations: torch.Tensor | np.ndarray) -> torch.Tensor | np.ndarray:
    """Root-centre (..., 17, 3) world poses and rotate them into (..., 3, 3) cameras (Sec. 4.2)."""
    if isinstance(poses, np.ndarray):
        centred = poses - poses[..., :1, :]
        return np.einsum("...ij,...nj->...ni", rotations, centred)
    centred = poses - poses[..., :1, :]
    return torch.einsum("...ij,...nj->...ni", rotations, centred)
