"""Pose-error metrics: MPJPE (protocol 1), P-MPJPE (protocol 2), N-MPJPE, velocity and acceleration errors.

All functions take ``pred`` and ``gt`` of shape ``(..., J, 3)`` (any units; reports use mm) and work in
float64. ``mask`` (optional, ``(..., J)`` bool) restricts the average to some joints, e.g. the occluded
ones; an empty mask gives NaN rather than a misleading 0.
"""

from __future__ import annotations

import numpy as np

from .skeleton import ROOT


def _check(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    if pred.shape != gt.shape or pred.ndim < 2 or pred.shape[-1] != 3:
        raise ValueError(f"pred and gt must both be (..., J, 3); got {pred.shape} and {gt.shape}")
    return pred, gt


def masked_mean(values: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean of ``values`` where ``mask`` is true (NaN if nothing is selected)."""
    if mask is None:
        return float(np.mean(values)) if values.size else float("nan")
    mask = np.broadcast_to(np.asarray(mask, dtype=bool), values.shape)
    n = mask.sum()
    return float(values[mask].sum() / n) if n else float("nan")


def root_relative(poses: np.ndarray, root: int = ROOT) -> np.ndarray:
    return poses - poses[..., root : root + 1, :]


def joint_errors(pred: np.ndarray, gt: np.ndarray, align_root: bool = True) -> np.ndarray:
    """Protocol 1 per-joint distances ``(..., J)``; both poses root-aligned first by default."""
    pred, gt = _check(pred, gt)
    if align_root:
        pred, gt = root_relative(pred), root_relative(gt)
    return np.linalg.norm(pred - gt, axis=-1)


def rotation_fit(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kabsch: the proper rotation R (..., 3, 3) minimising |y R - x| for point rows y, x (..., N, 3), and the
    trace of the fit (sum of the reflection-corrected singular values, used for the optimal scale)."""
    h = np.swapaxes(x, -1, -2) @ y
    u, s, vt = np.linalg.svd(h)
    v = np.swapaxes(vt, -1, -2)
    det = np.sign(np.linalg.det(v @ np.swapaxes(u, -1, -2)))
    v[..., :, -1] *= det[..., None]
    s[..., -1] *= det
    return v @ np.swapaxes(u, -1, -2), s.sum(-1)


def procrustes_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Similarity (rotation, uniform scale, translation) alignment of each pred pose onto its gt pose.

    Batched over leading dimensions: ``(..., J, 3)``. Reflections are excluded.
    """
    pred, gt = _check(pred, gt)
    mu_x, mu_y = gt.mean(-2, keepdims=True), pred.mean(-2, keepdims=True)
    x0, y0 = gt - mu_x, pred - mu_y
    norm_x = np.sqrt((x0**2).sum((-2, -1), keepdims=True))
    norm_y = np.sqrt((y0**2).sum((-2, -1), keepdims=True))
    norm_x = np.where(norm_x == 0, 1.0, norm_x)
    norm_y = np.where(norm_y == 0, 1.0, norm_y)
    r, trace = rotation_fit(y0 / norm_y, x0 / norm_x)
    scale = trace[..., None, None] * norm_x / norm_y
    return scale * (pred - mu_y) @ r + mu_x


def scale_align(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """N-MPJPE alignment: root-centre both, then the least-squares uniform scale of pred per pose."""
    pred, gt = _check(pred, gt)
    pred, gt = root_relative(pred), root_relative(gt)
    num = (pred * gt).sum((-2, -1), keepdims=True)
    den = (pred * pred).sum((-2, -1), keepdims=True)
    return pred * np.where(den == 0, 0.0, num / np.where(den == 0, 1.0, den)) + gt[..., ROOT : ROOT + 1, :]


def mpjpe(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Protocol 1: mean per-joint position error after root alignment."""
    return masked_mean(joint_errors(pred, gt), mask)


def p_mpjpe(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Protocol 2: error after per-pose similarity Procrustes alignment (on all joints)."""
    return masked_mean(joint_errors(procrustes_align(pred, gt), gt, align_root=False), mask)


def n_mpjpe(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    return masked_mean(joint_errors(scale_align(pred, gt), gt), mask)


def velocity_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``(T-1, ..., J)`` norms of the difference of first time-derivatives (per frame), time on axis 0."""
    pred, gt = _check(pred, gt)
    return np.linalg.norm(np.diff(pred, axis=0) - np.diff(gt, axis=0), axis=-1)


def acceleration_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``(T-2, ..., J)`` norms of the difference of second time-derivatives."""
    pred, gt = _check(pred, gt)
    return np.linalg.norm(np.diff(pred, 2, axis=0) - np.diff(gt, 2, axis=0), axis=-1)


def mpjve(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean per-joint velocity error; with a mask a velocity counts where both its frames are selected."""
    err = velocity_errors(pred, gt)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        mask = mask[1:] & mask[:-1]
    return masked_mean(err, mask)


def accel_error(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray | None = None) -> float:
    err = acceleration_errors(pred, gt)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        mask = mask[2:] & mask[1:-1] & mask[:-2]
    return masked_mean(err, mask)


def per_joint(errors: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """``(..., J)`` errors -> ``(J,)`` mean per joint (NaN for a joint never selected)."""
    flat = errors.reshape(-1, errors.shape[-1])
    if mask is None:
        return flat.mean(0)
    m = np.broadcast_to(mask, errors.shape).reshape(flat.shape)
    n = m.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (flat * m).sum(0) / np.maximum(n, 1), np.nan)


METRICS = {"mpjpe": mpjpe, "p_mpjpe": p_mpjpe, "n_mpjpe": n_mpjpe, "mpjve": mpjve}


def evaluate_sequences(
    preds: dict[str, np.ndarray],
    gts: dict[str, np.ndarray],
    masks: dict[str, np.ndarray] | None = None,
    scale: float = 1000.0,
    groups: dict[str, str] | None = None,
) -> dict[str, dict[str, float]]:
    """Per-sequence, per-group and overall ("ALL") metrics, in mm for metre inputs (``scale``).

    Each sequence is ``(T, J, 3)``. With ``masks`` (``(T, J)`` bool, e.g. occluded joints), the ``*_masked``
    entries restrict every metric to those joints. ``groups`` maps a sequence to its action (or subject):
    each group gets a row "action:<name>". Aggregates weight every frame (every velocity) equally.
    """
    rows: dict[str, dict[str, float]] = {}
    for key, gt in gts.items():
        if key not in preds:
            raise ValueError(f"no prediction for sequence {key!r}")
        pred = preds[key]
        row = {name: fn(pred, gt) * scale for name, fn in METRICS.items()}
        row["frames"] = float(len(gt))
        if masks is not None:
            m = masks[key]
            row.update({f"{name}_masked": fn(pred, gt, m) * scale for name, fn in METRICS.items()})
            row["masked_fraction"] = float(np.mean(m))
        rows[key] = row

    def aggregate(names: list[str]) -> dict[str, float]:
        pred_all = np.concatenate([preds[k] for k in names])
        gt_all = np.concatenate([gts[k] for k in names])
        mask_all = np.concatenate([masks[k] for k in names]) if masks is not None else None
        total: dict[str, float] = {}
        for name in ("mpjpe", "p_mpjpe", "n_mpjpe"):
            total[name] = METRICS[name](pred_all, gt_all) * scale
            if mask_all is not None:
                total[f"{name}_masked"] = METRICS[name](pred_all, gt_all, mask_all) * scale
        # velocities must not span sequence boundaries: weight the per-sequence values by their velocity count
        w = np.array([max(rows[k]["frames"] - 1, 0) for k in names])
        for col in ("mpjve", "mpjve_masked") if mask_all is not None else ("mpjve",):
            vals = np.array([rows[k][col] for k in names])
            ok = ~np.isnan(vals) & (w > 0)
            total[col] = float((vals[ok] * w[ok]).sum() / w[ok].sum()) if ok.any() else float("nan")
        if mask_all is not None:
            total["masked_fraction"] = float(np.mean(mask_all))
        total["frames"] = float(len(gt_all))
        return total

    if groups is not None:
        members: dict[str, list[str]] = {}
        for k in gts:
            members.setdefault(groups.get(k, k), []).append(k)
        for g, names in sorted(members.items()):
            rows[f"action:{g}"] = aggregate(names)
    rows["ALL"] = aggregate(list(gts))
    return rows
