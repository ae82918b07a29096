"""The paper's 2D network (Sec. 3.1): an occlusion-aware stacked hourglass.

Newell et al.'s stacked hourglass with a sigmoid output layer, so each heatmap is a confidence map in [0, 1]:
trained (Eq. 1) towards a Gaussian peak for a visible keypoint and an all-zero map for an occluded one, the peak
value is the keypoint's confidence C_i. Every stack is supervised (intermediate supervision).

Coordinates: a heatmap pixel ``u`` covers input pixels around ``(u + 0.5) * stride - 0.5``; targets and
decoding use the same convention, so encoding then decoding returns the input point.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .checkpoint import read_checkpoint
from .skeleton import NUM_JOINTS
from .validate import at_least, positive

CHECKPOINT_FORMAT = "occlupose-hourglass"
CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class HourglassConfig:
    """Paper / Newell et al. standard: 8 stacks, 256 features, 256x256 crops, 64x64 heatmaps."""

    stacks: int = 8
    features: int = 256
    #: downsamplings inside one hourglass (4: 64 -> 4 pixels)
    depth: int = 4
    joints: int = NUM_JOINTS
    input_size: int = 256
    #: Gaussian sigma of the targets, heatmap pixels
    sigma: float = 2.0
    #: keypoint layout of the output channels (see skeleton.to_h36m)
    layout: str = "h36m"

    def __post_init__(self) -> None:
        at_least(self, 1, "stacks", "features", "depth", "joints", integer=True)
        positive(self, "sigma")
        # every downsampling halves the heatmap: it must stay a whole number of pixels
        if not (isinstance(self.input_size, int) and self.input_size >= 4 * 2**self.depth
                and self.input_size % (4 * 2**self.depth) == 0):
            raise ValueError(f"HourglassConfig.input_size must be a multiple of {4 * 2**self.depth} (4 x 2^depth), "
                             f"got {self.input_size!r}")

    @property
    def heatmap_size(self) -> int:
        return self.input_size // 4

    @property
    def stride(self) -> int:
        return 4


class Residual(nn.Module):
    """Pre-activation bottleneck: BN-ReLU-1x1 (c/2), BN-ReLU-3x3 (c/2), BN-ReLU-1x1 (c), plus the input."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        mid = max(c_out // 2, 1)
        self.body = nn.Sequential(
            nn.BatchNorm2d(c_in), nn.ReLU(inplace=True), nn.Conv2d(c_in, mid, 1),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True), nn.Conv2d(mid, mid, 3, padding=1),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True), nn.Conv2d(mid, c_out, 1),
        )
        self.skip = nn.Identity() if c_in == c_out else nn.Conv2d(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class Hourglass(nn.Module):
    """One hourglass: recursive down (max-pool) and up (nearest) paths joined by residual skips."""

    def __init__(self, depth: int, features: int):
        super().__init__()
        self.up1 = Residual(features, features)
        self.low1 = Residual(features, features)
        self.low2 = Hourglass(depth - 1, features) if depth > 1 else Residual(features, features)
        self.low3 = Residual(features, features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.low3(self.low2(self.low1(F.max_pool2d(x, 2))))
        return self.up1(x) + F.interpolate(low, scale_factor=2, mode="nearest")


class StackedHourglass(nn.Module):
    """(B, 3, S, S) images in [0, 1] -> list over stacks of (B, J, S/4, S/4) heatmap logits.

    ``forward`` returns logits (numerically safer losses); :meth:`heatmaps` applies the sigmoid.
    """

    def __init__(self, cfg: HourglassConfig = HourglassConfig()):
        super().__init__()
        self.cfg = cfg
        f = cfg.features
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, stride=2, padding=3), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            Residual(64, 128), nn.MaxPool2d(2), Residual(128, 128), Residual(128, f),
        )
        self.hourglasses = nn.ModuleList(Hourglass(cfg.depth, f) for _ in range(cfg.stacks))
        self.features = nn.ModuleList(
            nn.Sequential(Residual(f, f), nn.Conv2d(f, f, 1), nn.BatchNorm2d(f), nn.ReLU(inplace=True))
            for _ in range(cfg.stacks))
        self.heads = nn.ModuleList(nn.Conv2d(f, cfg.joints, 1) for _ in range(cfg.stacks))
        self.remap_features = nn.ModuleList(nn.Conv2d(f, f, 1) for _ in range(cfg.stacks - 1))
        self.remap_heatmaps = nn.ModuleList(nn.Conv2d(cfg.joints, f, 1) for _ in range(cfg.stacks - 1))
        for head in self.heads:  # start near "nothing here" (sigmoid ~ 0.02): most of every map is zero
            nn.init.constant_(head.bias, -4.0)

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(images)
        out = []
        for i in range(self.cfg.stacks):
            feat = self.features[i](self.hourglasses[i](x))
            logits = self.heads[i](feat)
            out.append(logits)
            if i < self.cfg.stacks - 1:
                x = x + self.remap_features[i](feat) + self.remap_heatmaps[i](logits)
        return out

    def heatmaps(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) -> (B, J, S/4, S/4) confidence maps of the last stack, in [0, 1]."""
        return torch.sigmoid(self(images)[-1])


# --- targets, loss, decoding ----------------------------------------------------------------------------

def to_heatmap_coords(points: torch.Tensor, stride: int = 4) -> torch.Tensor:
    return (points + 0.5) / stride - 0.5


def to_input_coords(points: torch.Tensor, stride: int = 4) -> torch.Tensor:
    return (points + 0.5) * stride - 0.5


def heatmap_targets(keypoints: torch.Tensor, visible: torch.Tensor, size: int, sigma: float = 2.0) -> torch.Tensor:
    """Eq. 1 targets: keypoints (..., J, 2) in heatmap pixels (x, y), visible (..., J) bool ->
    (..., J, size, size): a unit Gaussian peak per visible keypoint, all zeros for an occluded one."""
    grid = torch.arange(size, dtype=keypoints.dtype, device=keypoints.device)
    gx = torch.exp(-((grid - keypoints[..., 0:1]) ** 2) / (2 * sigma ** 2))  # (..., J, W)
    gy = torch.exp(-((grid - keypoints[..., 1:2]) ** 2) / (2 * sigma ** 2))  # (..., J, H)
    maps = gy[..., :, None] * gx[..., None, :]
    return maps * visible[..., None, None].to(maps.dtype)


def heatmap_loss(logits: list[torch.Tensor] | torch.Tensor, targets: torch.Tensor, weight: torch.Tensor
                 ) -> torch.Tensor:
    """Eq. 1 summed over stacks (intermediate supervision): squared error of the sigmoid maps, summed over a
    map's pixels and averaged over the (batch, joint) maps with ``weight`` (B, J) > 0 (labelled keypoints;
    an unlabelled one, COCO's v = 0, is not a claim that the joint is hidden)."""
    if isinstance(logits, torch.Tensor):
        logits = [logits]
    w = weight.to(targets.dtype)
    total = targets.new_zeros(())
    for lg in logits:
        err = ((torch.sigmoid(lg) - targets) ** 2).sum((-1, -2))  # (B, J)
        total = total + (err * w).sum() / w.sum().clamp_min(1.0)
    return total


def decode_heatmaps(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Peaks of (..., J, H, W) maps -> keypoints (..., J, 2) in heatmap pixels, confidence (..., J).

    The arg-max moved a quarter pixel towards the higher neighbour in x and in y (Newell et al.), which
    halves the quantisation error; the confidence is the peak value (C_i)."""
    *lead, h, w = heatmaps.shape
    flat = heatmaps.reshape(*lead, h * w)
    conf, idx = flat.max(-1)
    y, x = idx // w, idx % w
    padded = F.pad(heatmaps.reshape(-1, 1, h, w), (1, 1, 1, 1), mode="replicate").reshape(*lead, h + 2, w + 2)

    def at(dy: int, dx: int) -> torch.Tensor:
        lin = (y + 1 + dy) * (w + 2) + (x + 1 + dx)
        return padded.reshape(*lead, -1).gather(-1, lin[..., None])[..., 0]

    dx = torch.sign(at(0, 1) - at(0, -1)) * 0.25
    dy = torch.sign(at(1, 0) - at(-1, 0)) * 0.25
    pts = torch.stack([x.to(heatmaps.dtype) + dx, y.to(heatmaps.dtype) + dy], -1)
    return pts, conf


def soft_argmax(heatmaps: torch.Tensor, beta: float = 50.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Differentiable peak of (..., J, H, W) confidence maps: the expected position under
    ``softmax(beta * map)`` (heatmap pixels) and the expected map value there as the confidence."""
    *lead, h, w = heatmaps.shape
    p = torch.softmax(beta * heatmaps.reshape(*lead, h * w), -1).reshape(*lead, h, w)
    xs = torch.arange(w, dtype=heatmaps.dtype, device=heatmaps.device)
    ys = torch.arange(h, dtype=heatmaps.dtype, device=heatmaps.device)
    x = (p.sum(-2) * xs).sum(-1)
    y = (p.sum(-1) * ys).sum(-1)
    conf = (p * heatmaps).sum((-1, -2))
    return torch.stack([x, y], -1), conf


# --- checkpoints and export -----------------------------------------------------------------------------

def save_hourglass(path: str | os.PathLike, model: StackedHourglass, meta: dict | None = None) -> None:
    from dataclasses import asdict

    from .safeio import atomic_file

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path, overwrite=True) as tmp:  # a crash never leaves half a checkpoint
        torch.save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "config": asdict(model.cfg),
                    "model": model.state_dict(), "meta": meta or {}}, tmp)


def load_hourglass(path: str | os.PathLike, device: str = "cpu") -> tuple[StackedHourglass, dict]:
    """Load a checkpoint written by :func:`save_hourglass`; clear errors for anything else."""
    ckpt = read_checkpoint(path, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, "hourglass", device,
                           hint="train one with `occlupose hourglass train`")
    try:
        model = StackedHourglass(HourglassConfig(**ckpt["config"]))
        model.load_state_dict(ckpt["model"])
    except (TypeError, RuntimeError) as exc:
        raise ValueError(f"{path}: incompatible hourglass checkpoint ({exc})") from exc
    return model.to(device).eval(), ckpt.get("meta", {})


class _Deployed(nn.Module):
    """What ONNX gets: images -> (confidence maps, keypoints in input pixels, confidence)."""

    def __init__(self, model: StackedHourglass):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor):
        maps = self.model.heatmaps(images)
        pts, conf = decode_heatmaps(maps)
        return maps, to_input_coords(pts, self.model.cfg.stride), conf


def export_onnx(model: StackedHourglass, path: str | os.PathLike, opset: int = 17) -> Path:
    """Write an ONNX graph with a dynamic batch: input ``images`` (B, 3, S, S) RGB in [0, 1]; outputs
    ``heatmaps`` (B, J, S/4, S/4), ``keypoints`` (B, J, 2) input pixels, ``confidence`` (B, J)."""
    path = Path(path)
    s = model.cfg.input_size
    wrapped = _Deployed(model).eval()
    example = torch.zeros(2, 3, s, s)
    with warnings.catch_warnings():  # the exporter's constant-folding notes are not the user's concern
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(wrapped, (example,), str(path), input_names=["images"],
                              output_names=["heatmaps", "keypoints", "confidence"], opset_version=opset,
                              dynamic_axes={k: {0: "batch"} for k in ("images", "heatmaps", "keypoints", "confidence")},
                              dynamo=False)
        except ModuleNotFoundError as exc:
            raise ValueError(f"ONNX export needs the 'onnx' package: pip install 'occlupose[onnx]' ({exc})") from exc
    return path
