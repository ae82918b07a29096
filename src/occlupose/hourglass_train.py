"""Training and evaluation of the hourglass (Eq. 1), and the end-to-end mode (Eq. 9).

A *source* is anything with ``batch(rng, n) -> (images (n, 3, S, S) float [0, 1], keypoints (n, 17, 2) input
pixels, state (n, 17) 0/1/2)``: :class:`~occlupose.keypoints2d.KeypointCrops` for COCO/MPII-style data, or
:class:`~occlupose.synthetic.SyntheticCylinderMan`.

End to end: the hourglass runs on every frame of a clip, a soft-argmax turns its maps into differentiable
keypoints and confidences, keypoints whose confidence is below b are removed (the paper's binarised C_b), and
the TCN losses flow back into the hourglass through the kept keypoints' coordinates:
``L = L_2D (Eq. 1 + Eq. 3) + w1 L_3D (Eq. 4) + w2 L_reg (Eq. 8)``.
"""

from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from tqdm import tqdm

from . import losses as L
from .checkpoint import check_device
from .encoding import encode_torch
from .evaluate import EVAL_SEED
from .hourglass import (
    HourglassConfig,
    StackedHourglass,
    decode_heatmaps,
    heatmap_loss,
    heatmap_targets,
    save_hourglass,
    soft_argmax,
    to_heatmap_coords,
    to_input_coords,
)
from .keypoints2d import VISIBLE
from .metrics import mpjpe
from .occlusion import OcclusionFilterConfig
from .safeio import clear_owned, made_folder, run_folder
from .train import lr_at
from .validate import at_least, positive, within

#: the paper's b: the confidence the hourglass's statistics are split at
PAPER_B = OcclusionFilterConfig().threshold


class Source(Protocol):
    def batch(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class HourglassTrainConfig:
    """Newell et al.'s schedule shape: lr 2.5e-4, dropped 10x late in the run."""

    model: HourglassConfig = field(default_factory=HourglassConfig)
    steps: int = 100_000
    batch_size: int = 16
    lr: float = 2.5e-4
    lr_final: float = 2.5e-5
    lr_drop_at: float = 0.8
    seed: int = 0
    threads: int = 0
    log_every: int = 50
    checkpoint_every: int = 1000

    def __post_init__(self) -> None:
        at_least(self, 1, "steps", "batch_size", "log_every", "checkpoint_every", integer=True)
        at_least(self, 0, "seed", "threads", integer=True)
        positive(self, "lr", "lr_final")
        within(self, 0.0, 1.0, "lr_drop_at")


def targets_for(keypoints: torch.Tensor, state: torch.Tensor, cfg: HourglassConfig
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 1 maps (B, J, H, W) and loss weights (B, J): labelled joints count, visible ones get a peak."""
    hm = to_heatmap_coords(keypoints, cfg.stride)
    return heatmap_targets(hm, state == VISIBLE, cfg.heatmap_size, cfg.sigma), (state > 0).float()


def _tensors(batch: tuple[np.ndarray, ...], device: str) -> tuple[torch.Tensor, ...]:
    """A source's arrays on ``device``; the int8 joint states as int64 (comparisons, indexing)."""
    return tuple(torch.from_numpy(np.ascontiguousarray(a if a.dtype.kind == "f" else a.astype(np.int64)))
                 .to(device) for a in batch)


def train_hourglass(cfg: HourglassTrainConfig, source: Source, run_dir: str | os.PathLike,
                    val_source: Source | None = None, device: str = "cpu", progress: bool = True,
                    overwrite: bool = False, meta: dict | None = None) -> Path:
    """Train with intermediate supervision on every stack; return ``run_dir/final.pt``. The folder is made
    only once training starts; a run that fails before its end leaves no folder it created behind."""
    run_dir, used = run_folder(run_dir)
    if used and not overwrite:
        raise FileExistsError(f"{run_dir} is not empty: pass --overwrite to replace it")
    check_device(device)
    with made_folder(run_dir):
        clear_owned(run_dir, HOURGLASS_RUN_FILES)
        return _train(cfg, source, run_dir, val_source, device, progress, meta)


#: the files an hourglass run folder holds; a restart with ``overwrite`` removes an earlier run's
HOURGLASS_RUN_FILES = r"log\.csv|last\.pt|final\.pt|eval\.json|\..+\.partial\.\w+"


def _train(cfg: HourglassTrainConfig, source: Source, run_dir: Path, val_source: Source | None, device: str,
           progress: bool, meta: dict | None) -> Path:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = StackedHourglass(cfg.model).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    t0 = time.time()
    acc, n_acc = 0.0, 0
    with open(run_dir / "log.csv", "w", newline="") as f:
        log = csv.writer(f)
        log.writerow(["step", "lr", "loss", "seconds"])
        bar = tqdm(range(cfg.steps), disable=not progress, desc="train hourglass", unit="step")
        for step in bar:
            lr = lr_at(cfg, step)
            for g in opt.param_groups:
                g["lr"] = lr
            model.train()
            images, kp, state = _tensors(source.batch(rng, cfg.batch_size), device)
            target, weight = targets_for(kp, state, cfg.model)
            loss = heatmap_loss(model(images), target, weight)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at step {step}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            acc, n_acc = acc + loss.item(), n_acc + 1
            done = step + 1
            if done % cfg.log_every == 0 or done == cfg.steps:
                log.writerow([done, lr, f"{acc / n_acc:.6g}", f"{time.time() - t0:.1f}"])
                f.flush()
                bar.set_postfix(loss=f"{acc / n_acc:.4f}")
                acc, n_acc = 0.0, 0
            if done % cfg.checkpoint_every == 0 and done < cfg.steps:
                save_hourglass(run_dir / "last.pt", model, {"step": done})
    info = {"step": cfg.steps, "train_config": asdict(cfg), "train_seconds": round(time.time() - t0, 1),
            **(meta or {})}
    if val_source is not None:
        info["validation"] = evaluate_hourglass(model, val_source, device=device)
        (run_dir / "eval.json").write_text(json.dumps(info["validation"], indent=1))
    final = run_dir / "final.pt"
    save_hourglass(final, model, info)
    return final


@torch.no_grad()
def evaluate_hourglass(model: StackedHourglass, source: Source, images: int = 512, batch: int = 32,
                       seed: int = EVAL_SEED, threshold: float = PAPER_B, device: str = "cpu") -> dict[str, float]:
    """Peak error (input pixels) on visible joints, and how well the peak value separates occluded joints
    from visible ones: mean confidences, the share on the right side of ``threshold``, and the ROC AUC."""
    model.eval()
    rng = np.random.default_rng(seed)
    errs, conf_v, conf_o = [], [], []
    done = 0
    while done < images:
        n = min(batch, images - done)
        x, kp, state = _tensors(source.batch(rng, n), device)
        pts, conf = decode_heatmaps(model.heatmaps(x))
        pts = to_input_coords(pts, model.cfg.stride)
        vis, occ = state == VISIBLE, state == 1
        errs.append(torch.linalg.norm(pts - kp, dim=-1)[vis].cpu())
        conf_v.append(conf[vis].cpu())
        conf_o.append(conf[occ].cpu())
        done += n
    e, cv, co = torch.cat(errs).numpy(), torch.cat(conf_v).numpy(), torch.cat(conf_o).numpy()
    return {
        "images": images, "input_size": model.cfg.input_size,
        "peak_error_px_mean": float(e.mean()), "peak_error_px_median": float(np.median(e)),
        "pck_5px": float((e <= 5).mean()), "pck_10px": float((e <= 10).mean()),
        "confidence_visible_mean": float(cv.mean()), "confidence_occluded_mean": float(co.mean()) if co.size else
        float("nan"),
        "visible_above_threshold": float((cv >= threshold).mean()),
        "occluded_below_threshold": float((co < threshold).mean()) if co.size else float("nan"),
        "auc_visible_vs_occluded": _auc(cv, co), "visible_joints": int(cv.size), "occluded_joints": int(co.size),
    }


def _auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(a visible joint's confidence > an occluded one's), ties half (Mann-Whitney)."""
    if not pos.size or not neg.size:
        return float("nan")
    allv = np.concatenate([pos, neg])
    order = allv.argsort(kind="mergesort")
    ranks = np.empty(len(allv))
    ranks[order] = np.arange(1, len(allv) + 1)
    _, inv, counts = np.unique(allv, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, ranks)
    ranks = (sums / counts)[inv]  # average ranks for ties
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


# --- end to end (Eq. 9) ---------------------------------------------------------------------------------

class EndToEnd(torch.nn.Module):
    """Hourglass -> soft-argmax -> occlusion threshold -> 2D TCN -> 3D TCN, one differentiable module.

    forward(images (B, T, 3, S, S)) -> dict with ``logits`` (list over stacks of (B*T, J, h, w)),
    ``keypoints`` (B, T, J, 2) input pixels, ``confidence`` (B, T, J), ``reliable`` (B, T, J) bool, and the
    lifter's ``pred_2d`` (B, T, J, 2) and ``pred_3d`` (B, T, J, 3)."""

    def __init__(self, hourglass: StackedHourglass, lifter: torch.nn.Module, beta: float = 50.0):
        super().__init__()
        self.hourglass, self.lifter, self.beta = hourglass, lifter, beta

    def forward(self, images: torch.Tensor) -> dict:
        b, t = images.shape[:2]
        logits = self.hourglass(images.flatten(0, 1))
        maps = torch.sigmoid(logits[-1])
        pts, conf = soft_argmax(maps, self.beta)
        pts = to_input_coords(pts, self.hourglass.cfg.stride).reshape(b, t, -1, 2)
        conf = conf.reshape(b, t, -1)
        # the lifter's own encoding (b, mode); C_b binarised as in Eq. 3
        x, centre, scale, reliable = encode_torch(pts, conf, self.lifter.cfg.encoding)
        pred_2d, pred_3d = self.lifter(x)
        return {"logits": logits, "keypoints": pts, "confidence": conf, "reliable": reliable,
                "centre": centre, "scale": scale, "pred_2d": pred_2d, "pred_3d": pred_3d}


def end_to_end_loss(out: dict, keypoints: torch.Tensor, state: torch.Tensor, poses_3d: torch.Tensor,
                    hg_cfg: HourglassConfig, weights: L.LossWeights = L.LossWeights(),
                    zeta: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Eq. 9 for a batch of clips: keypoints (B, T, J, 2) input px, state (B, T, J), poses_3d (B, T, J, 3)
    camera frame metres (root-relative targets are taken here), zeta (B,) 1 where the clip has 3D."""
    b = state.shape[0]
    target, weight = targets_for(keypoints.flatten(0, 1), state.flatten(0, 1), hg_cfg)
    l_hm = heatmap_loss(out["logits"], target, weight)
    # 2D TCN (Eq. 3): the true keypoints in the frame the input was normalised in
    rel = out["reliable"]
    gt_norm = (keypoints - out["centre"].detach()[..., None, :]) / out["scale"].detach()[:, None, None, None]
    l_tcn2d = L.loss_2d_tcn(out["pred_2d"], gt_norm, rel)
    zeta = torch.ones(b, device=keypoints.device) if zeta is None else zeta
    root = poses_3d - poses_3d[..., :1, :]
    visible = state == VISIBLE
    terms = L.loss_3d(out["pred_3d"], root, gt_norm, visible, zeta, None, weights)
    unreliable = ~rel
    l_reg = L.loss_pose_regularizer(out["pred_3d"], unreliable, torch.zeros_like(zeta))
    total = L.total_loss(l_hm + l_tcn2d, terms["l3d"], l_reg, weights)
    return {"loss": total, "heatmap": l_hm, "tcn2d": l_tcn2d, "l3d": terms["l3d"], "mse": terms["mse"],
            "reg": l_reg}


class SequenceSource(Protocol):
    def sequences(self, rng: np.random.Generator, n: int, frames: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]: ...


def train_end_to_end(model: EndToEnd, source: SequenceSource, steps: int, clips: int = 2, frames: int = 32,
                     lr: float = 1e-4, weights: L.LossWeights = L.LossWeights(), seed: int = 0,
                     device: str = "cpu", progress: bool = True, freeze_norm: bool = True
                     ) -> list[dict[str, float]]:
    """Fine-tune hourglass and TCNs together on labelled clips (Eq. 9); returns the loss terms per step.

    ``freeze_norm``: batch-norm layers keep the statistics of their separate training. A few clips per step
    are far too few to re-estimate them, and updating them from such batches wrecks the eval-mode model."""
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for _ in tqdm(range(steps), disable=not progress, desc="end to end", unit="step"):
        model.train()
        if freeze_norm:
            for m in model.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.eval()
        images, kp, state, poses = _tensors(source.sequences(rng, clips, frames), device)
        terms = end_to_end_loss(model(images), kp, state, poses, model.hourglass.cfg, weights)
        if not torch.isfinite(terms["loss"]):
            raise FloatingPointError(f"end-to-end loss became {terms['loss'].item()}")
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        history.append({k: float(v.detach()) for k, v in terms.items()})
    return history


@torch.no_grad()
def evaluate_end_to_end(model: EndToEnd, source: SequenceSource, clips: int = 16, frames: int = 32,
                        seed: int = EVAL_SEED, device: str = "cpu") -> dict[str, float]:
    """From pixels to 3D on held-out clips: MPJPE (mm, root-relative) overall and on occluded joints, and the
    2D peak error (input pixels) of the visible joints."""
    model.eval()
    rng = np.random.default_rng(seed)
    preds, gts, occ, errs = [], [], [], []
    for _ in range(clips):
        images, kp, state, poses = _tensors(source.sequences(rng, 1, frames), device)
        out = model(images)
        preds.append(out["pred_3d"][0].cpu().numpy())
        gts.append((poses - poses[..., :1, :])[0].cpu().numpy())
        occ.append((state != VISIBLE)[0].cpu().numpy())
        pts, _ = decode_heatmaps(torch.sigmoid(out["logits"][-1]))
        pts = to_input_coords(pts, model.hourglass.cfg.stride).reshape(kp.shape)
        errs.append(torch.linalg.norm(pts - kp, dim=-1)[state == VISIBLE].cpu().numpy())
    pred, gt, mask = np.concatenate(preds), np.concatenate(gts), np.concatenate(occ)
    return {"mpjpe": 1000 * mpjpe(pred, gt), "mpjpe_occluded": 1000 * mpjpe(pred, gt, mask),
            "peak_error_px": float(np.concatenate(errs).mean()), "frames": int(len(pred))}
