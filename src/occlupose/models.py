"""Temporal convolutional networks (paper Fig. 6) and the pose-sequence discriminator.

The TCN is a small 1D U-Net over time. The figure gives two strided convolution blocks (C blocks), two
transposed-convolution blocks (T blocks), kernel 5 everywhere, dilations and short connections between
scales. Choices it leaves open, made here:

* a stem convolution lifts the input to ``channels`` at full rate; each C block halves the rate with a
  stride-2 convolution, then a dilated residual convolution (dilation 2, then 4); each T block doubles the
  rate with a stride-2 transposed convolution, adds the skip from the same scale, then a dilated residual
  convolution (dilation 2, then 1); batch norm, ReLU and dropout after every convolution;
* the receptive field is about 120 frames at full rate, matching the paper's 128-frame windows;
* sequences are padded by repeating their edge frames to a multiple of 4 (the two strides) and cropped back.

Input per joint: (x, y, flag) with missing joints zeroed; output: (x, y) per joint for the 2D TCN, (x, y, z)
root-relative in metres for the 3D TCN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .skeleton import NUM_JOINTS
from .validate import at_least, within


@dataclass(frozen=True)
class TCNConfig:
    channels: int = 128
    dropout: float = 0.1
    kernel: int = 5
    #: only past and present frames shape each output (live use): left-only padding, and upsampling by
    #: repetition then a causal convolution instead of the transposed convolutions
    causal: bool = False
    #: the 3D TCN's first layer also sees each joint's position multiplied by its third channel (C* or the
    #: flag), so it can weigh a guess by its confidence instead of only adding the two; the input stays
    #: (..., 17, 3), the products are formed inside the network. Ignored by the 2D TCN
    confidence_products: bool = False
    #: the 3D TCN's first layer also sees, per joint and for each of these Gaussian widths (frames), its
    #: position averaged over time weighted by the third channel (normalised convolution: sum w·C*·x / sum
    #: w·C*) and that weight's sum: a hidden joint's estimate from the frames around it where it was seen,
    #: a division the convolutions cannot form. Empty: off. Not for the causal lifter. Ignored by the 2D TCN
    normalized_sigmas: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        at_least(self, 1, "channels", integer=True)
        within(self, 0.0, 0.99, "dropout")
        sigmas = self.normalized_sigmas
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in sigmas):
            raise ValueError(f"TCNConfig.normalized_sigmas must be positive numbers of frames, got {sigmas!r}")
        if sigmas and self.causal:
            raise ValueError("TCNConfig.normalized_sigmas looks at future frames: not for a causal TCN")
        # odd, so that "same" padding keeps the length; >= 3 for the transposed convolutions' padding
        if not (isinstance(self.kernel, int) and self.kernel >= 3 and self.kernel % 2 == 1):
            raise ValueError(f"TCNConfig.kernel must be an odd integer >= 3, got {self.kernel!r}")


def _conv(c_in: int, c_out: int, k: int, stride: int = 1, dilation: int = 1, causal: bool = False) -> nn.Module:
    if causal:
        return _CausalConv(c_in, c_out, k, stride, dilation)
    return nn.Conv1d(c_in, c_out, k, stride=stride, padding=dilation * (k - 1) // 2, dilation=dilation, bias=False)


class _CausalConv(nn.Conv1d):
    """A convolution whose output at step i sees inputs up to i * stride only: the past is padded by repeating
    the first frame, nothing comes from the future."""

    def __init__(self, c_in: int, c_out: int, k: int, stride: int = 1, dilation: int = 1):
        super().__init__(c_in, c_out, k, stride=stride, dilation=dilation, bias=False)
        self.left = dilation * (k - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, (self.left, 0), mode="replicate"))


class _CausalUp(nn.Sequential):
    """Twice the rate, causally: each coarse step repeated, then a causal convolution."""

    def __init__(self, c: int, k: int):
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), _CausalConv(c, c, k))


class _Unit(nn.Sequential):
    """conv -> batch norm -> ReLU -> dropout."""

    def __init__(self, conv: nn.Module, c: int, dropout: float):
        super().__init__(conv, nn.BatchNorm1d(c, momentum=0.1), nn.ReLU(inplace=True), nn.Dropout(dropout))


#: the TCN's two stride-2 layers: how many places a frame can take in their grid
STRIDE_GRID = 4


class TCN(nn.Module):
    """(B, T, 17, in_dims) -> (B, T, 17, out_dims); any T >= 1."""

    def __init__(self, in_dims: int = 3, out_dims: int = 3, cfg: TCNConfig = TCNConfig()):
        super().__init__()
        c, k, p, z = cfg.channels, cfg.kernel, cfg.dropout, cfg.causal
        self.out_dims, self.causal = out_dims, z

        def up() -> nn.Module:
            if z:
                return _CausalUp(c, k)
            return nn.ConvTranspose1d(c, c, k, stride=2, padding=k // 2, output_padding=1, bias=False)

        self.stem = _Unit(_conv(NUM_JOINTS * in_dims, c, k, causal=z), c, p)
        self.down1 = _Unit(_conv(c, c, k, stride=2, causal=z), c, p)
        self.res1 = _Unit(_conv(c, c, k, dilation=2, causal=z), c, p)
        self.down2 = _Unit(_conv(c, c, k, stride=2, causal=z), c, p)
        self.res2 = _Unit(_conv(c, c, k, dilation=4, causal=z), c, p)
        self.up1 = _Unit(up(), c, p)
        self.res3 = _Unit(_conv(c, c, k, dilation=2, causal=z), c, p)
        self.up2 = _Unit(up(), c, p)
        self.res4 = _Unit(_conv(c, c, k, causal=z), c, p)
        self.head = nn.Conv1d(c, NUM_JOINTS * out_dims, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t = x.shape[:2]
        pad = (-t) % STRIDE_GRID
        h = x.reshape(b, t, -1).transpose(1, 2)
        if pad:  # causal: all the padding after the last frame, which no real frame's output sees
            h = F.pad(h, (0, pad) if self.causal else (pad // 2, pad - pad // 2), mode="replicate")
        s0 = self.stem(h)
        s1 = self.down1(s0)
        s1 = s1 + self.res1(s1)
        s2 = self.down2(s1)
        s2 = s2 + self.res2(s2)
        u1 = self.up1(s2) + s1
        u1 = u1 + self.res3(u1)
        u2 = self.up2(u1) + s0
        u2 = u2 + self.res4(u2)
        out = self.head(u2)
        if pad:
            start = 0 if self.causal else pad // 2
            out = out[..., start : start + t]
        return out.transpose(1, 2).reshape(b, t, NUM_JOINTS, self.out_dims)


def gaussian_kernels(sigmas: tuple[float, ...]) -> torch.Tensor:
    """(S, K) Gaussian weights, one row per width in frames, all of one odd length K (3 widths of the
    widest either side), each row summing to 1."""
    half = max(1, math.ceil(3 * max(sigmas)))
    t = torch.arange(-half, half + 1, dtype=torch.float64)
    w = torch.exp(-0.5 * (t[None] / torch.tensor(sigmas, dtype=torch.float64)[:, None]) ** 2)
    return (w / w.sum(1, keepdim=True)).float()


def normalized_average(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """(B, T, J, 3) positions and weights -> (B, T, J, 3 * S): per width, the weighted average position over
    time (x, y) and the sum of the weights that formed it. Frames outside the sequence weigh nothing."""
    b, t, j, _ = x.shape
    s, k = kernels.shape
    w = x[..., 2:3]
    h = torch.cat([x[..., :2] * w, w], dim=-1)  # (B, T, J, 3): w·x, w·y, w
    h = h.reshape(b, t, j * 3).transpose(1, 2).reshape(b * j * 3, 1, t)
    h = F.conv1d(h, kernels[:, None].to(h), padding=k // 2)  # (B·J·3, S, T)
    h = h.reshape(b, j, 3, s, t).permute(0, 4, 1, 3, 2)  # (B, T, J, S, 3)
    den = h[..., 2:3]
    avg = h[..., :2] / den.clamp_min(1e-3)
    return torch.cat([avg, den], dim=-1).reshape(b, t, j, 3 * s)


class Lifter3D(TCN):
    """3D TCN whose output is root-relative by construction (the pelvis is the origin)."""

    def __init__(self, cfg: TCNConfig = TCNConfig()):
        sigmas = tuple(float(v) for v in cfg.normalized_sigmas)
        super().__init__((5 if cfg.confidence_products else 3) + 3 * len(sigmas), 3, cfg)
        self.products = cfg.confidence_products
        self.kernels: torch.Tensor | None
        self.register_buffer("kernels", gaussian_kernels(sigmas) if sigmas else None, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [x]
        if self.products:
            parts.append(x[..., :2] * x[..., 2:3])
        if self.kernels is not None:
            parts.append(normalized_average(x, self.kernels))
        if len(parts) > 1:
            x = torch.cat(parts, dim=-1)
        out = super().forward(x)
        return out - out[:, :, :1]


def widen_stem(weight: torch.Tensor) -> torch.Tensor:
    """A 3D TCN's (C, 17 * 3, k) stem weight as the (C, 17 * 5, k) one of a stem with
    ``confidence_products``, the products' weights zero: the same function, so a trained lifter can be
    fine-tuned into using them."""
    c, _, k = weight.shape
    per_joint = weight.reshape(c, NUM_JOINTS, 3, k)
    return torch.cat([per_joint, per_joint.new_zeros(c, NUM_JOINTS, 2, k)], dim=2).reshape(c, NUM_JOINTS * 5, k)


class Discriminator(nn.Module):
    """Scores a (B, T, 17, 3) pose sequence as real (mocap) or generated: three 1D convolutions, one linear
    layer (paper Sec. 5.2). Input poses are root-relative; the logit is returned (use BCE-with-logits)."""

    def __init__(self, channels: int = 64):
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv1d(NUM_JOINTS * 3, channels, 5, padding=2), nn.LeakyReLU(0.2),
            nn.Conv1d(channels, channels, 5, stride=2, padding=2), nn.LeakyReLU(0.2),
            nn.Conv1d(channels, channels, 5, stride=2, padding=2), nn.LeakyReLU(0.2),
        )
        self.fc = nn.Linear(channels, 1)

    def forward(self, poses: torch.Tensor) -> torch.Tensor:
        b, t = poses.shape[:2]
        h = self.convs(poses.reshape(b, t, -1).transpose(1, 2))
        return self.fc(h.mean(-1)).squeeze(-1)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
