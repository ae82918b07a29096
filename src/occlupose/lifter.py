"""The 2D -> 3D lifter: 2D TCN then 3D TCN, checkpoints, and lifting of whole sequences.

Data flow: 2D keypoints + reliability -> normalised input (missing joints zeroed and flagged) -> 2D TCN
(smooths, does not fill) -> 3D TCN (all 17 joints, root-relative camera frame, metres).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checkpoint import read_checkpoint
from .config import ModelConfig, TrainConfig, from_dict, to_dict
from .models import TCN, Lifter3D
from .occlusion import network_input, normalize_2d

CHECKPOINT_FORMAT = "occlupose-lifter"
CHECKPOINT_VERSION = 1
DEFAULT_WEIGHTS = "default.pt"


class PoseLifter(nn.Module):
    """2D TCN (optional) + 3D TCN, as one module: (B, T, 17, 3) input -> (2D (B,T,17,2), 3D (B,T,17,3))."""

    def __init__(self, cfg: ModelConfig = ModelConfig()):
        super().__init__()
        self.cfg = cfg
        self.tcn2d = TCN(3, 2, cfg.tcn) if cfg.use_2d_tcn else None
        self.tcn3d = Lifter3D(cfg.tcn)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        flag = x[..., 2:3]
        if self.tcn2d is not None:
            smooth = self.tcn2d(x)
            # the 2D TCN does not fill missing keypoints: they stay zero and flagged for the 3D TCN
            x = torch.cat([smooth * flag, flag], dim=-1)
        else:
            smooth = x[..., :2]
        return smooth, self.tcn3d(x)


def prepare_input(keypoints: np.ndarray, reliable: np.ndarray, occlusion_aware: bool = True
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(..., T, 17, 2) keypoints and (..., T, 17) reliability -> network input (..., T, 17, 3) float32,
    plus the normalisation (centre, scale) and the flags the network saw. Occlusion-unaware models see every
    keypoint as reliable."""
    flags = np.asarray(reliable, bool) if occlusion_aware else np.ones(np.shape(reliable), bool)
    norm, centre, scale = normalize_2d(keypoints, flags)
    return network_input(norm, flags).astype(np.float32), centre, scale, flags


@dataclass
class LoadedModel:
    model: PoseLifter
    config: TrainConfig
    name: str
    meta: dict


def _git_commit() -> str:
    import subprocess

    try:
        root = Path(__file__).resolve().parents[2]
        return subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5).stdout.strip() or "unknown"
    except Exception:
        return "unknown"


def save_checkpoint(path: str | os.PathLike, model: PoseLifter, cfg: TrainConfig, step: int, extra: dict | None = None,
                    half: bool = False) -> None:
    state = model.state_dict()
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "name": cfg.name,
        "config": to_dict(cfg),
        "model": state,
        "step": step,
        "git_commit": _git_commit(),
    }
    payload.update(extra or {})
    tmp = Path(str(path) + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | os.PathLike | None = None, device: str = "cpu") -> LoadedModel:
    """Load a lifter checkpoint (None: the model shipped with the package). Clear errors for bad files."""
    if path is None:
        ref = resources.files("occlupose") / "weights" / DEFAULT_WEIGHTS
        with resources.as_file(ref) as p:
            if not p.is_file():
                raise FileNotFoundError(f"the default model {p} is missing from this installation")
            return load_checkpoint(p, device)
    path = Path(path)
    ckpt = read_checkpoint(path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, "lifter", device)
    cfg = from_dict(TrainConfig, ckpt["config"], f"{path}:config")
    model = PoseLifter(cfg.model)
    state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"{path}: weights do not match the model its config describes ({exc})") from exc
    model.to(device).eval()
    meta = {k: v for k, v in ckpt.items() if k not in ("model", "optimizer", "discriminator", "disc_optimizer")}
    return LoadedModel(model, cfg, ckpt.get("name", path.stem), meta)


def resample(x: np.ndarray, src_fps: float, dst_fps: float, n_out: int | None = None) -> np.ndarray:
    """Linear resampling of (T, ...) along time from src_fps to dst_fps (n_out frames if given)."""
    t = len(x)
    if n_out is None:
        n_out = max(1, int(round((t - 1) * dst_fps / src_fps)) + 1) if t > 1 else 1
    if t == 1 or abs(src_fps - dst_fps) < 1e-9 and n_out == t:
        return np.repeat(x[:1], n_out, 0) if t == 1 else x.copy()
    pos = np.arange(n_out) * (src_fps / dst_fps)
    pos = np.clip(pos, 0, t - 1)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, t - 1)
    w = (pos - i0).reshape(-1, *([1] * (x.ndim - 1)))
    return (1 - w) * x[i0] + w * x[i1]


@torch.no_grad()
def lift(model: PoseLifter, keypoints: np.ndarray, reliable: np.ndarray, fps: float | None = None,
         device: str = "cpu") -> np.ndarray:
    """Lift one 2D sequence: keypoints (T, 17, 2) in any unit (pixels, y down), reliable (T, 17) bool.

    Resamples to the model's frame rate and back, so any fps and any T >= 1 work. Returns (T, 17, 3)
    root-relative camera-frame poses in metres.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    rel = np.asarray(reliable, dtype=bool)
    if kp.ndim != 3 or kp.shape[1:] != (17, 2) or rel.shape != kp.shape[:2]:
        raise ValueError(f"keypoints must be (T, 17, 2) and reliable (T, 17); got {kp.shape} and {rel.shape}")
    if len(kp) == 0:
        raise ValueError("empty sequence (T = 0)")
    if not np.all(np.isfinite(kp[rel])):
        raise ValueError("reliable keypoints contain NaN or infinite values")
    kp = np.where(rel[..., None], kp, 0.0)
    t = len(kp)
    model_fps = model.cfg.fps
    fps = model_fps if fps is None else fps
    if abs(fps - model_fps) > 1e-6 and t > 1:
        kp_m = resample(kp, fps, model_fps)
        rel_m = resample(rel.astype(np.float64), fps, model_fps) > 0.999
    else:
        kp_m, rel_m = kp, rel
    x, _, _, _ = prepare_input(kp_m, rel_m, model.cfg.occlusion_aware)
    model.eval()
    _, out = model(torch.from_numpy(x[None]).to(device))
    poses = out[0].cpu().numpy().astype(np.float64)
    if len(poses) != t:
        poses = resample(poses, model_fps, fps, n_out=t)
    return poses.astype(np.float32)
