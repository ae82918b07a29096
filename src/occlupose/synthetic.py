"""Synthetic images of the Cylinder Man for training the hourglass without an image dataset.

Mocap poses are seen from the paper's virtual views (Sec. 4.2) and rendered as the ten shaded cylinders of the
Cylinder Man Model with a z-buffer, left limbs warm and right limbs cool (so left and right can be told apart),
on a random textured background, sometimes behind a random box occluder. Keypoints are known exactly, and the
occlusion label of every joint is the Cylinder Man's own (Eq. 7) or "behind the box" or "outside the crop":
the same definition the TCNs are trained with. Everything is batched torch, one pass for all images.

Camera frame: x right, y down, z away from the camera (orthographic; depth only orders surfaces).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .camera import sample_virtual_rotations
from .cylinder import CYL_END, CYL_START, CylinderConfig, radii, visibility
from .keypoints2d import OCCLUDED, VISIBLE

# head, torso, l upper arm, r upper arm, l lower arm, r lower arm, l thigh, r thigh, l lower leg, r lower leg
PART_COLOURS = np.array([
    [0.95, 0.80, 0.60], [0.55, 0.55, 0.60],
    [0.95, 0.30, 0.20], [0.20, 0.45, 0.95], [0.95, 0.65, 0.15], [0.15, 0.80, 0.85],
    [0.75, 0.20, 0.35], [0.30, 0.30, 0.85], [0.95, 0.50, 0.50], [0.30, 0.75, 0.45],
], np.float32)


@dataclass(frozen=True)
class SyntheticConfig:
    size: int = 256
    #: crop side = the larger extent of the projected body x margin (like a detector box x 1.25)
    margin: float = 1.25
    scale_jitter: float = 0.1
    shift_jitter: float = 0.05
    occluder_prob: float = 0.5
    #: occluder box sides, as fractions of the crop side
    occluder_min: float = 0.15
    occluder_max: float = 0.45
    noise: float = 0.03
    cylinder: CylinderConfig = field(default_factory=CylinderConfig)


def render(poses_cam: torch.Tensor, centre: torch.Tensor, side: torch.Tensor, size: int,
           cfg: CylinderConfig = CylinderConfig()) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Z-buffered Cylinder Man silhouettes: poses (M, 17, 3) camera frame, crop centre (M, 2) and side (M,) in
    metres -> part index (M, S, S) long (-1 = background), shading (M, S, S) in [0, 1], keypoints (M, 17, 2) px.
    """
    m = poses_cam.shape[0]
    dt = poses_cam.dtype
    px_m = side / size  # metres per pixel, (M,)
    grid = (torch.arange(size, dtype=dt) - (size - 1) / 2)
    qx = centre[:, 0, None, None] + grid[None, None, :] * px_m[:, None, None]  # (M, 1, S)
    qy = centre[:, 1, None, None] + grid[None, :, None] * px_m[:, None, None]  # (M, S, 1)
    a, b = poses_cam[:, CYL_START], poses_cam[:, CYL_END]  # (M, 10, 3)
    r = radii(poses_cam, cfg)  # (M, 10)
    u = b - a
    uu = (u[..., 0] ** 2 + u[..., 1] ** 2).clamp_min(1e-9)
    rx = qx[:, None] - a[..., 0, None, None]  # (M, 10, 1, S)
    ry = qy[:, None] - a[..., 1, None, None]  # (M, 10, S, 1)
    t = ((rx * u[..., 0, None, None] + ry * u[..., 1, None, None]) / uu[..., None, None]).clamp(0, 1)
    dx = rx - t * u[..., 0, None, None]
    dy = ry - t * u[..., 1, None, None]
    d2 = dx * dx + dy * dy  # (M, 10, S, S)
    r2 = (r * r)[..., None, None]
    inside = d2 < r2
    depth = a[..., 2, None, None] + t * u[..., 2, None, None] - (r2 - d2).clamp_min(0).sqrt()
    depth = torch.where(inside, depth, torch.full_like(depth, float("inf")))
    front, part = depth.min(1)
    part = torch.where(torch.isfinite(front), part, torch.full_like(part, -1))
    rr = r2.squeeze(-1).squeeze(-1).gather(1, part.clamp_min(0).reshape(m, -1)).reshape(m, size, size)
    dd = d2.gather(1, part.clamp_min(0)[:, None]).squeeze(1)
    shade = (1 - dd / rr).clamp_min(0).sqrt()
    kp = (poses_cam[..., :2] - centre[:, None]) / px_m[:, None, None] + (size - 1) / 2
    return part, shade, kp


class SyntheticCylinderMan:
    """Random labelled images (``batch``) and short labelled videos (``sequences``) of mocap poses.

    poses (N, 17, 3) world metres, Z up (the mocap file's frames); ``clips`` of lengths (C,) for sequences."""

    def __init__(self, poses: np.ndarray, cfg: SyntheticConfig = SyntheticConfig(),
                 lengths: np.ndarray | None = None):
        poses = np.asarray(poses, np.float32)
        if poses.ndim != 3 or poses.shape[1:] != (17, 3) or not np.isfinite(poses).all():
            raise ValueError(f"poses must be finite (N, 17, 3), got {poses.shape}")
        self.poses, self.cfg = poses, cfg
        self.lengths = np.array([len(poses)]) if lengths is None else np.asarray(lengths)

    @classmethod
    def from_mocap(cls, mocap, split: str, cfg: SyntheticConfig = SyntheticConfig()) -> SyntheticCylinderMan:
        """Every clip of a split ("train", "test") of a :class:`~occlupose.data.Mocap`."""
        keys = mocap.keys(split)
        if not keys:
            raise ValueError(f"{mocap.path}: no {split} clips")
        return cls(np.concatenate([mocap.clips[k] for k in keys]), cfg, np.array([len(mocap.clips[k]) for k in keys]))

    def _draw(self, rng: np.random.Generator, world: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """world (G, F, 17, 3): each group of F frames shares one camera, crop and occluder."""
        cfg, s = self.cfg, self.cfg.size
        g, f = world.shape[:2]
        rot = sample_virtual_rotations(g, rng)
        # centred on the root of the group's first frame, so a clip keeps its motion
        cam = np.einsum("gij,gfnj->gfni", rot, world - world[:, :1, :1])
        xy = cam[..., :2]
        lo, hi = xy.min((1, 2)) - 0.12, xy.max((1, 2)) + 0.12  # (G, 2)
        side = (hi - lo).max(-1) * cfg.margin * (1 + cfg.scale_jitter * rng.uniform(-1, 1, g))
        centre = (lo + hi) / 2 + cfg.shift_jitter * side[:, None] * rng.uniform(-1, 1, (g, 2))
        flat = torch.from_numpy(cam.reshape(g * f, 17, 3).astype(np.float32))
        cen = torch.from_numpy(np.repeat(centre, f, 0).astype(np.float32))
        sd = torch.from_numpy(np.repeat(side, f, 0).astype(np.float32))
        part, shade, kp = render(flat, cen, sd, s, cfg.cylinder)
        # colours: per-image jitter of the part colours and the light
        colours = torch.from_numpy(np.clip(PART_COLOURS[None] + rng.normal(0, 0.06, (g, 10, 3)), 0, 1)
                                   .astype(np.float32)).repeat_interleave(f, 0)  # (M, 10, 3)
        body = colours.gather(1, part.clamp_min(0).reshape(g * f, -1, 1).expand(-1, -1, 3)).reshape(g * f, s, s, 3)
        body = body * (0.35 + 0.65 * shade[..., None])
        bg = self._background(rng, g).repeat_interleave(f, 0)
        img = torch.where((part >= 0)[..., None], body, bg)
        # a box occluder in front of everything, fixed in the crop for a group
        occ = rng.random(g) < cfg.occluder_prob
        wh = rng.uniform(cfg.occluder_min, cfg.occluder_max, (g, 2)) * s
        c0 = rng.uniform(0.2, 0.8, (g, 2)) * s
        box = np.concatenate([c0 - wh / 2, c0 + wh / 2], 1)  # (G, 4) x0 y0 x1 y1 px
        box[~occ] = -1
        boxes = torch.from_numpy(np.repeat(box, f, 0).astype(np.float32))
        grid = torch.arange(s, dtype=torch.float32)
        in_x = (grid[None] >= boxes[:, 0:1]) & (grid[None] <= boxes[:, 2:3])  # (M, S)
        in_y = (grid[None] >= boxes[:, 1:2]) & (grid[None] <= boxes[:, 3:4])
        in_box = in_y[:, :, None] & in_x[:, None, :]
        box_col = torch.from_numpy(rng.uniform(0.1, 0.9, (g, 3)).astype(np.float32)).repeat_interleave(f, 0)
        texture = 0.85 + 0.15 * torch.sin(grid[None, :, None] * 0.7 + grid[None, None, :] * 0.3)  # stripes
        img = torch.where(in_box[..., None], box_col[:, None, None] * texture[..., None], img)
        img = img + cfg.noise * torch.from_numpy(rng.standard_normal(img.shape).astype(np.float32))
        images = img.clamp(0, 1).permute(0, 3, 1, 2).numpy()
        kp_np = kp.numpy()
        visible = visibility(cam.reshape(g * f, 17, 3).astype(np.float32), cfg.cylinder)
        bx = np.repeat(box, f, 0)[:, None]
        behind_box = ((kp_np[..., 0] >= bx[..., 0]) & (kp_np[..., 0] <= bx[..., 2])
                      & (kp_np[..., 1] >= bx[..., 1]) & (kp_np[..., 1] <= bx[..., 3]))
        inside = ((kp_np >= 0) & (kp_np <= s - 1)).all(-1)
        state = np.where(visible & ~behind_box & inside, VISIBLE, OCCLUDED).astype(np.int8)
        return images, kp_np, state, cam.reshape(g * f, 17, 3)

    def _background(self, rng: np.random.Generator, g: int) -> torch.Tensor:
        """(G, S, S, 3): smooth random colour fields (the pixel noise is added to the whole image)."""
        s = self.cfg.size
        coarse = torch.from_numpy(rng.uniform(0, 1, (g, 3, 6, 6)).astype(np.float32))
        smooth = F.interpolate(coarse, size=(s, s), mode="bilinear", align_corners=False)
        return (0.15 + 0.7 * smooth).permute(0, 2, 3, 1)

    def batch(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """images (n, 3, S, S) float32 [0, 1], keypoints (n, 17, 2) px, state (n, 17) (1 occluded, 2 visible)."""
        idx = rng.integers(0, len(self.poses), n)
        images, kp, state, _ = self._draw(rng, self.poses[idx][:, None])
        return images, kp.astype(np.float32), state

    def sequences(self, rng: np.random.Generator, n: int, frames: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """n clips of ``frames`` consecutive poses, one camera each: images (n, T, 3, S, S), keypoints
        (n, T, 17, 2) px, state (n, T, 17), 3D poses (n, T, 17, 3) in the camera frame, metres."""
        from .data import sample_windows

        idx = sample_windows(rng, self.lengths, n, frames)  # (n, T) frame indices
        images, kp, state, cam = self._draw(rng, self.poses[idx])
        s = self.cfg.size
        return (images.reshape(n, frames, 3, s, s), kp.reshape(n, frames, 17, 2).astype(np.float32),
                state.reshape(n, frames, 17), cam.reshape(n, frames, 17, 3).astype(np.float32))
