import math

import numpy as np
import pytest
import torch
from poses import t_pose

from occlupose import losses as L
from occlupose.camera import LEVEL_CAMERA
from occlupose.cylinder import rotate
from occlupose.skeleton import J


def tensor(a):
    return torch.as_tensor(np.asarray(a), dtype=torch.float64)


def test_eq3_masks_unreliable_joints():
    pred = torch.zeros(1, 2, 17, 2, dtype=torch.float64)
    gt = torch.zeros_like(pred)
    gt[0, :, 3] = 1.0  # error 2 (1 + 1) on joint 3
    gt[0, :, 4] = 10.0  # huge error on joint 4, which is unreliable
    rel = torch.ones(1, 2, 17, dtype=torch.bool)
    rel[0, :, 4] = False
    assert L.loss_2d_tcn(pred, gt, rel).item() == pytest.approx(2.0)


def test_eq4_sum_over_joints_mean_over_frames():
    gt = torch.zeros(2, 3, 17, 3, dtype=torch.float64)
    pred = gt.clone()
    pred[:, :, 3, 0] = 0.1
    pred[:, :, 5, 1] = 0.2
    assert L.loss_mse_3d(pred, gt).item() == pytest.approx(0.05)
    pred[1] += 1.0  # window without 3D must not count
    assert L.loss_mse_3d(pred, gt, tensor([1.0, 0.0])).item() == pytest.approx(0.05)


def test_eq4_with_hidden_joints_weighted():
    """Joint 3 (error 0.01) hidden in every frame and counted 3 times, joint 5 (0.04) visible: 0.03 + 0.04."""
    gt = torch.zeros(1, 2, 17, 3, dtype=torch.float64)
    pred = gt.clone()
    pred[:, :, 3, 0], pred[:, :, 5, 1] = 0.1, 0.2
    visible = torch.ones(1, 2, 17, dtype=torch.bool)
    visible[:, :, 3] = False
    one = tensor([1.0])
    plain = L.loss_3d(pred, gt, gt[..., :2], visible, one, None)["mse"]
    hidden = L.loss_3d(pred, gt, gt[..., :2], visible, one, None, L.LossWeights(occluded=3.0))["mse"]
    assert plain.item() == pytest.approx(0.05) and hidden.item() == pytest.approx(0.07)
    with pytest.raises(ValueError):
        L.LossWeights(occluded=-1.0)


def test_eq4_euclidean_distance_known_value_and_finite_gradient():
    """Errors (0.3, 0.4, 0) on joint 3 and (0, 0, 1.2) on joint 5: 0.5 + 1.2 m per frame, not 0.25 + 1.44 m²;
    a joint already exact gets a finite (zero) gradient."""
    gt = torch.zeros(1, 2, 17, 3, dtype=torch.float64)
    pred = gt.clone()
    pred[:, :, 3, :2] = tensor([0.3, 0.4])
    pred[:, :, 5, 2] = 1.2
    pred.requires_grad_(True)
    visible = torch.ones(1, 2, 17, dtype=torch.bool)
    terms = L.loss_3d(pred, gt, gt[..., :2], visible, tensor([1.0]), None, L.LossWeights(distance="euclidean"))
    assert terms["mse"].item() == pytest.approx(1.7, abs=1e-4)
    assert L.loss_3d(pred, gt, gt[..., :2], visible, tensor([1.0]), None)["mse"].item() == pytest.approx(1.69)
    terms["mse"].backward()
    assert torch.isfinite(pred.grad).all() and pred.grad[0, 0, 0].abs().max().item() < 1e-9
    # the gradient of a joint's distance is its unit direction, over the 2 frames: (0.6, 0.8, 0) / 2
    assert pred.grad[0, 0, 3].tolist() == pytest.approx([0.3, 0.4, 0.0])
    with pytest.raises(ValueError, match="distance"):
        L.LossWeights(distance="l1")


def test_eq5_projection_up_to_scale_and_visible_only():
    rng = np.random.default_rng(0)
    pred = tensor(rng.normal(size=(1, 4, 17, 3)))
    gt_2d = 3.0 * (pred[..., :2] - pred[..., :1, :2]) + 5.0
    vis = torch.ones(1, 4, 17, dtype=torch.bool)
    assert L.loss_projection(pred, gt_2d, vis).item() == pytest.approx(0.0, abs=1e-12)
    gt_2d[0, :, 7] += 100.0
    vis[0, :, 7] = False
    assert L.loss_projection(pred, gt_2d, vis).item() == pytest.approx(0.0, abs=1e-12)
    # a 2D-only window with a known error: fitted scale 1, one joint off by (0.3, 0.4)
    p = torch.zeros(1, 1, 17, 3, dtype=torch.float64)
    p[0, 0, 1:, 0] = torch.arange(1, 17, dtype=torch.float64)
    target = p[..., :2].clone()
    target[0, 0, 16] += tensor([0.0, 0.5])
    v = torch.ones(1, 1, 17, dtype=torch.bool)
    s = L.fit_scale(p[..., :2], target, v)
    assert s.item() == pytest.approx(1.0)  # the y offset is orthogonal to the x-only projection
    assert L.loss_projection(p, target, v, tensor([0.0])).item() == pytest.approx(0.25)
    assert L.loss_projection(p, target, v, tensor([1.0])).item() == 0.0  # 3D windows use Eq. 4 instead


def test_symmetry_loss_known_value():
    p = tensor(t_pose())[None, None]
    assert L.loss_symmetry(p).item() == pytest.approx(0.0, abs=1e-12)
    q = p.clone()
    q[..., J["l_elbow"], 0] += 0.05  # left upper arm 5 cm longer; the lower arm 5 cm shorter
    assert L.loss_symmetry(q).item() == pytest.approx(2 * 0.05**2)


def test_adversarial_losses_known_values():
    z = torch.zeros(4)
    assert L.loss_discriminator(z, z).item() == pytest.approx(math.log(2))
    assert L.loss_adversarial_generator(z).item() == pytest.approx(math.log(2))
    big = torch.full((4,), 20.0)
    assert L.loss_discriminator(big, -big).item() == pytest.approx(0.0, abs=1e-6)


def test_eq8_prefers_occluded_unreliable_joints():
    visible_pose = rotate(t_pose(), LEVEL_CAMERA)
    hidden_pose = t_pose()
    hidden_pose[J["l_elbow"]] = [0.15, 0.15, 0.3]
    hidden_pose[J["l_wrist"]] = [0.0, 0.3, 0.25]
    hidden_pose = rotate(hidden_pose, LEVEL_CAMERA)
    unreliable = torch.zeros(1, 1, 17, dtype=torch.bool)
    unreliable[..., J["l_wrist"]] = True
    zeta = tensor([0.0])
    shown = L.loss_pose_regularizer(tensor(visible_pose)[None, None], unreliable, zeta).item()
    hid = L.loss_pose_regularizer(tensor(hidden_pose)[None, None], unreliable, zeta).item()
    assert shown == pytest.approx(1.0, abs=1e-3) and hid < 0.01
    # windows with 3D ground truth are not regularised
    assert L.loss_pose_regularizer(tensor(visible_pose)[None, None], unreliable, tensor([1.0])).item() == 0.0


def test_total_loss_uses_the_paper_weights():
    w = L.LossWeights()
    assert (w.alpha, w.beta, w.w1, w.w2) == (0.2, 0.1, 1.0, 0.1)
    gt = torch.zeros(1, 2, 17, 3, dtype=torch.float64)
    pred = gt.clone()
    pred[..., 3, 0] = 0.1  # MSE 0.01
    terms = L.loss_3d(pred, gt, gt[..., :2], torch.ones(1, 2, 17, dtype=torch.bool), tensor([1.0]),
                      torch.zeros(1, dtype=torch.float64), w)
    sym = L.loss_symmetry(pred).item()
    assert terms["l3d"].item() == pytest.approx(0.01 + 0.2 * sym + 0.1 * math.log(2))
    total = L.total_loss(torch.tensor(0.5), terms["l3d"], torch.tensor(2.0), w)
    assert total.item() == pytest.approx(0.5 + terms["l3d"].item() + 0.2)
