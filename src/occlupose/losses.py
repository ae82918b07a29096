"""The paper's losses (Eq. 3-9), one function each. As in the paper, each is a sum over joints (or bone
pairs) of one pose; it is averaged over the frames of the batch (the frames that have any selected joint),
so the paper's weights keep their meaning whatever the batch size or window length.

Shapes: poses (B, T, 17, 3) metres, root-relative camera frame; 2D (B, T, 17, 2) normalised units;
masks (B, T, 17); ``zeta`` (B,) is 1 where a window has 3D ground truth and 0 where it is 2D-only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn import functional as F

from .cylinder import CylinderConfig, visibility
from .skeleton import BONES, SYMMETRIC_BONES
from .validate import at_least


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sum over the last axis (joints) where mask, mean over the frames with any selected joint."""
    mask = mask.to(values.dtype)
    frames = (mask.sum(-1) > 0).to(values.dtype).sum()
    return (values * mask).sum() / frames.clamp_min(1.0)


def loss_2d_tcn(pred_2d: torch.Tensor, gt_2d: torch.Tensor, reliable: torch.Tensor) -> torch.Tensor:
    """Eq. 3: squared 2D error of the 2D TCN on the reliable joints only (C_b masks input and target)."""
    return _masked_mean(((pred_2d - gt_2d) ** 2).sum(-1), reliable)


def loss_mse_3d(pred: torch.Tensor, gt: torch.Tensor, zeta: torch.Tensor | None = None,
                weight: torch.Tensor | None = None, euclidean: bool = False) -> torch.Tensor:
    """Eq. 4: mean squared 3D joint distance, over the windows that have 3D (zeta = 1); ``weight`` (B, T, J)
    scales each joint's term (None: Eq. 4's equal weights). ``euclidean``: the distance itself, not its square
    (VideoPose3D's loss, the MPJPE it is scored by)."""
    err = ((pred - gt) ** 2).sum(-1)  # (B, T, J)
    if euclidean:
        err = torch.sqrt(err + 1e-12)  # the epsilon keeps the gradient finite at a perfect joint
    if weight is not None:
        err = err * weight
    if zeta is None:
        return err.sum(-1).mean()
    return _masked_mean(err, zeta[:, None, None].expand_as(err) > 0.5)


def fit_scale(proj: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(B, 1, 1, 1) least-squares scale s minimising sum w |s proj - target|^2 per window: projections of
    metric 3D poses meet normalised 2D (the orthographic camera's scale is unknown)."""
    w = weight.to(proj.dtype)[..., None]
    num = (w * proj * target).sum((1, 2, 3), keepdim=True)
    den = (w * proj * proj).sum((1, 2, 3), keepdim=True).clamp_min(1e-9)
    return num / den


def loss_projection(pred: torch.Tensor, gt_2d: torch.Tensor, visible: torch.Tensor,
                    zeta: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 5: orthographic reprojection error of the visible joints (v_i = 1), for 2D-only windows.

    Both sides are centred on the root; the projection is scaled to the 2D by :func:`fit_scale`.
    """
    proj = pred[..., :2] - pred[..., :1, :2]
    target = gt_2d - gt_2d[..., :1, :]
    proj = proj * fit_scale(proj, target, visible)
    err = ((proj - target) ** 2).sum(-1)
    mask = visible if zeta is None else visible & (zeta[:, None, None] < 0.5)
    return _masked_mean(err, mask)


def loss_symmetry(pred: torch.Tensor) -> torch.Tensor:
    """Left/right bone-length symmetry: squared differences of the 6 paired bone lengths, summed per pose."""
    bones = torch.linalg.norm(pred[..., BONES[:, 1], :] - pred[..., BONES[:, 0], :], dim=-1)
    diff = bones[..., SYMMETRIC_BONES[:, 0]] - bones[..., SYMMETRIC_BONES[:, 1]]
    return (diff**2).sum(-1).mean()


def loss_adversarial_generator(fake_logits: torch.Tensor) -> torch.Tensor:
    """The 3D TCN's side of L_dis: make the discriminator call its poses real (non-saturating form)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def loss_discriminator(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """L_dis = -sum(u log q + (1 - u) log(1 - q)), u = 1 for mocap poses, 0 for generated ones (mean)."""
    return 0.5 * (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))


def loss_pose_regularizer(pred: torch.Tensor, unreliable: torch.Tensor, zeta: torch.Tensor | None = None,
                          cfg: CylinderConfig = CylinderConfig()) -> torch.Tensor:
    """Eq. 8: soft Cylinder Man visibility of the joints flagged unreliable, for windows without 3D.

    It prefers 3D poses in which a missing keypoint is explained by self-occlusion.
    """
    vis = visibility(pred, cfg, soft=True)  # (B, T, J)
    mask = unreliable if zeta is None else unreliable & (zeta[:, None, None] < 0.5)
    return _masked_mean(vis, mask)


@dataclass(frozen=True)
class LossWeights:
    """Eq. 6 and Eq. 9 weights (paper values)."""

    alpha: float = 0.2  # symmetry
    beta: float = 0.1  # adversarial
    w1: float = 1.0  # L_3D
    w2: float = 0.1  # L_reg
    w_2d: float = 1.0  # L_2D (Eq. 9 has none; kept for the ablation of the 2D TCN)
    #: Eq. 4's term of a joint hidden in the window (Cylinder Man or occluder) counted this many times: 1 is the
    #: paper's plain mean; more spends the lifter's capacity on the joints its input cannot show
    occluded: float = 1.0
    #: Eq. 4's distance: "squared" (the paper's MSE) or "euclidean" (each joint's error in metres, the metric
    #: the lifter is scored by; for a joint the input cannot pin down it is minimised by the middle of the
    #: likely places rather than their mean, and a far outlier pulls less)
    distance: str = "squared"

    def __post_init__(self) -> None:
        at_least(self, 0.0, "alpha", "beta", "w1", "w2", "w_2d", "occluded")
        if self.distance not in ("squared", "euclidean"):
            raise ValueError(f"weights.distance is {self.distance!r}: 'squared' (Eq. 4) or 'euclidean'")


def loss_3d(pred: torch.Tensor, gt: torch.Tensor, gt_2d: torch.Tensor, visible: torch.Tensor, zeta: torch.Tensor,
            fake_logits: torch.Tensor | None, weights: LossWeights = LossWeights()) -> dict[str, torch.Tensor]:
    """Eq. 6: zeta MSE + (1 - zeta) projection + alpha symmetry + beta adversarial (terms and total)."""
    hidden = None if weights.occluded == 1.0 else 1.0 + (weights.occluded - 1.0) * (~visible).to(pred.dtype)
    euclidean = weights.distance == "euclidean"
    terms = {
        "mse": loss_mse_3d(pred, gt, zeta, hidden, euclidean) if bool((zeta > 0.5).any()) else pred.new_zeros(()),
        "proj": loss_projection(pred, gt_2d, visible, zeta) if bool((zeta < 0.5).any()) else pred.new_zeros(()),
        "sym": loss_symmetry(pred),
        "adv": loss_adversarial_generator(fake_logits) if fake_logits is not None else pred.new_zeros(()),
    }
    terms["l3d"] = terms["mse"] + terms["proj"] + weights.alpha * terms["sym"] + weights.beta * terms["adv"]
    return terms


def total_loss(l2d: torch.Tensor, l3d: torch.Tensor, lreg: torch.Tensor, weights: LossWeights = LossWeights()
               ) -> torch.Tensor:
    """Eq. 9: L = L_2D + w1 L_3D + w2 L_reg."""
    return weights.w_2d * l2d + weights.w1 * l3d + weights.w2 * lreg
