import numpy as np
import pytest

from occlupose.camera import rot_x, rot_z
from occlupose.metrics import (
    accel_error,
    evaluate_sequences,
    joint_errors,
    mpjpe,
    mpjve,
    n_mpjpe,
    p_mpjpe,
    per_joint,
    procrustes_align,
)


def test_p_mpjpe_is_zero_for_a_similar_pose(rng):
    gt = rng.normal(size=(10, 17, 3))
    r = rot_z(np.array(0.7)) @ rot_x(np.array(-0.3))
    pred = 2.5 * gt @ r.T + np.array([1.0, -2.0, 3.0])
    assert p_mpjpe(pred, gt) == pytest.approx(0.0, abs=1e-9)
    assert mpjpe(pred, gt) > 0.1
    np.testing.assert_allclose(procrustes_align(pred, gt), gt, atol=1e-9)


def test_procrustes_never_reflects(rng):
    gt = rng.normal(size=(17, 3))
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    assert p_mpjpe(mirrored, gt) > 0.05


def test_mpjpe_of_known_offsets():
    gt = np.zeros((2, 17, 3))
    pred = gt.copy()
    pred[:, 5] += [0.03, 0.04, 0.0]  # one joint 5 cm off
    assert mpjpe(pred, gt) == pytest.approx(0.05 / 17)
    # a translation of the whole pose is removed by root alignment
    assert mpjpe(gt + 1.0, gt) == pytest.approx(0.0)
    mask = np.zeros((2, 17), bool)
    mask[:, 5] = True
    assert mpjpe(pred, gt, mask) == pytest.approx(0.05)
    assert np.isnan(mpjpe(pred, gt, np.zeros((2, 17), bool)))


def test_n_mpjpe_removes_scale(rng):
    gt = rng.normal(size=(4, 17, 3))
    assert n_mpjpe(0.5 * gt, gt) == pytest.approx(0.0, abs=1e-12)


def test_velocity_and_acceleration_errors():
    t = np.arange(10, dtype=float)
    gt = np.zeros((10, 17, 3))
    gt[..., 0] = t[:, None]
    assert mpjve(gt + 0.2, gt) == pytest.approx(0.0)
    pred = gt.copy()
    pred[..., 0] *= 2  # twice the speed: velocity error 1 per frame
    assert mpjve(pred, gt) == pytest.approx(1.0)
    assert accel_error(pred, gt) == pytest.approx(0.0)


def test_per_joint_and_shapes():
    gt = np.zeros((3, 17, 3))
    pred = gt.copy()
    pred[:, 16, 2] = 0.1
    e = joint_errors(pred, gt)
    assert e.shape == (3, 17)
    pj = per_joint(e)
    assert pj[16] == pytest.approx(0.1) and pj[:16].max() == 0
    with pytest.raises(ValueError, match="must both be"):
        mpjpe(np.zeros((3, 17, 3)), np.zeros((3, 16, 3)))


def test_evaluate_sequences_weights_frames():
    gt = {"a": np.zeros((10, 17, 3)), "b": np.zeros((30, 17, 3))}
    pa, pb = gt["a"].copy(), gt["b"].copy()
    pa[:, 3, 0] = 0.017
    pb[:, 3, 0] = 0.034
    masks = {"a": np.zeros((10, 17), bool), "b": np.zeros((30, 17), bool)}
    masks["a"][:, 3] = True
    masks["b"][:, 3] = True
    rows = evaluate_sequences({"a": pa, "b": pb}, gt, masks)
    assert rows["a"]["mpjpe"] == pytest.approx(1.0)
    assert rows["b"]["mpjpe"] == pytest.approx(2.0)
    assert rows["ALL"]["mpjpe"] == pytest.approx((10 * 1 + 30 * 2) / 40)
    assert rows["ALL"]["mpjpe_masked"] == pytest.approx((10 * 17 + 30 * 34) / 40)
    assert rows["ALL"]["frames"] == 40


def test_evaluate_sequences_groups_by_action():
    gt = {k: np.zeros((n, 17, 3)) for k, n in (("a", 10), ("b", 30), ("c", 5))}
    preds = {k: v.copy() for k, v in gt.items()}
    for k, off in (("a", 0.017), ("b", 0.034), ("c", 0.0)):
        preds[k][:, 3, 0] = off
    rows = evaluate_sequences(preds, gt, groups={"a": "walk", "b": "walk", "c": "jump"})
    assert rows["action:walk"]["mpjpe"] == pytest.approx((10 * 1 + 30 * 2) / 40)
    assert rows["action:jump"]["mpjpe"] == pytest.approx(0.0)
    assert rows["action:walk"]["frames"] == 40 and rows["ALL"]["frames"] == 45
