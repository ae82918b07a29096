"""Training of the 2D and 3D TCNs with the paper's losses (Eq. 3-9) on occlusion-labelled mocap windows.

One step: sample windows -> virtual view, Cylinder Man labels, virtual occluders, detector-like 2D (augment)
-> normalise -> 2D TCN -> 3D TCN -> L = L_2D + w1 L_3D + w2 L_reg, with an adversarial discriminator updated
in turn. Supervised windows use Eq. 4; 2D-only windows (semi-supervised) use Eq. 5 + Eq. 8 and never see 3D.
Multi-GPU: run under ``torchrun``; each rank draws its own windows and DDP averages the gradients.
"""

from __future__ import annotations

import csv
import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from . import losses as L
from .augment import Augmenter
from .camera import seen_along_rays
from .checkpoint import check_device, read_checkpoint
from .config import TrainConfig, from_dict, save_config
from .data import Mocap, extra_mocap_path, load_mocap, merge_mocap, sample_windows
from .encoding import DROPPING
from .lifter import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    PoseLifter,
    encode_in_view,
    load_checkpoint,
    save_checkpoint,
    turn_by_ray,
    weight_design,
)
from .models import Discriminator, widen_stem
from .safeio import atomic_file, clear_owned, made_folder, run_folder
from .skeleton import FLIP_PERMUTATION, NUM_JOINTS


@dataclass
class TrainData:
    poses: np.ndarray  # (N, 17, 3) all training frames, clips concatenated
    lengths: np.ndarray  # (C,)
    supervised: np.ndarray  # (C,) bool: the clip's 3D may be used
    mocap: Mocap


def training_mocap(cfg: TrainConfig) -> Mocap:
    """The main mocap file with the training clips of ``cfg.extra_data`` added."""
    mocap = load_mocap(cfg.data)
    if cfg.extra_data:
        mocap = merge_mocap(mocap, [load_mocap(extra_mocap_path(n)) for n in cfg.extra_data])
    return mocap


def build_data(cfg: TrainConfig) -> TrainData:
    mocap = training_mocap(cfg)
    keys = mocap.keys("train")
    if cfg.subjects is not None:
        unknown = set(cfg.subjects) - set(mocap.subjects("train"))
        if unknown:
            raise ValueError(f"subjects {sorted(unknown)} are not training subjects of {mocap.path}")
        keys = [k for k in keys if k.split("/", 1)[0] in cfg.subjects]
    if not keys:
        raise ValueError(f"{mocap.path}: no training clips")
    sup_subjects = None if cfg.supervised_subjects is None else set(cfg.supervised_subjects)
    if sup_subjects is not None:
        unknown = sup_subjects - set(mocap.subjects("train"))
        if unknown:
            raise ValueError(f"supervised_subjects {sorted(unknown)} are not training subjects of {mocap.path}")
    supervised = np.array([sup_subjects is None or k.split("/", 1)[0] in sup_subjects for k in keys])
    return TrainData(np.concatenate([mocap.clips[k] for k in keys]), np.array([len(mocap.clips[k]) for k in keys]),
                     supervised, mocap)


def lr_at(cfg: TrainConfig, step: int) -> float:
    """The paper's schedule: ``lr`` until ``lr_drop_at`` of the run, then ``lr_final`` (any config with
    those fields and ``steps``: the hourglass's too)."""
    return cfg.lr if step < cfg.lr_drop_at * cfg.steps else cfg.lr_final


def to_device(arrays: dict[str, np.ndarray], device: str) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(np.ascontiguousarray(v)).to(device) for k, v in arrays.items()}


def step_rng(cfg: TrainConfig, rank: int, step: int) -> np.random.Generator:
    """The random stream of one step's batch: a function of (seed, rank, step) only, so a resumed run and a
    run with any number of augmentation workers draw the same batches."""
    return np.random.default_rng([cfg.seed, rank, step])


def batch_arrays(rng: np.random.Generator, data: TrainData, aug: Augmenter, cfg: TrainConfig
                 ) -> dict[str, np.ndarray]:
    """One training batch: network input, targets, masks and zeta (1 = has 3D), as numpy arrays (so worker
    processes can build it; :func:`to_device` makes the tensors)."""
    idx = sample_windows(rng, data.lengths, cfg.batch_size, cfg.window)
    offsets = np.concatenate([[0], np.cumsum(data.lengths)])
    clip = np.searchsorted(offsets, idx[:, 0], side="right") - 1
    b = aug(rng, data.poses[idx])
    pinhole = np.isfinite(b.root[:, 0, 0])  # (B,) perspective windows: 2D in focal-length units
    e, centre = encode_in_view(cfg.model, b.det_2d, b.conf, pinhole)
    gt_2d = b.gt_2d
    if cfg.model.ray_input:
        gt_2d = np.where(pinhole[:, None, None, None], seen_along_rays(gt_2d, centre), gt_2d)
    gt_2d = (gt_2d - e.centre[..., None, :]) / e.frame_scale()
    gt_3d = b.poses_3d
    if cfg.model.ray_frame:  # perspective windows' targets as seen along the ray through the 2D centre
        gt_3d = turn_by_ray(gt_3d, centre, pinhole, to_camera=False)
    # Eq. 3 supervises the 2D TCN on the reliable joints (paper); a soft model's 2D TCN corrects every guess
    l2d_mask = e.reliable if cfg.model.encoding.mode in DROPPING else np.ones_like(e.reliable)
    return {
        "x": e.x, "gt_2d": gt_2d.astype(np.float32), "gt_3d": gt_3d, "flags": l2d_mask,
        "visible": ~b.occluded, "unreliable": ~e.reliable, "zeta": data.supervised[clip].astype(np.float32),
    }


#: what a forked augmentation worker needs (set before the pool starts; read-only after)
_WORKER: dict = {}


def step_batch(cfg: TrainConfig, data: TrainData, aug: Augmenter, rank: int, step: int) -> dict[str, np.ndarray]:
    """The batch of one step, in whichever process builds it."""
    return batch_arrays(step_rng(cfg, rank, step), data, aug, cfg)


def _worker_start() -> None:
    # one core per worker, and a forked child must not use the thread pool of a parent that has run parallel
    # torch code (it would wait on threads that were not forked)
    torch.set_num_threads(1)


def _worker_batch(rank_step: tuple[int, int]) -> dict[str, np.ndarray]:
    return step_batch(_WORKER["cfg"], _WORKER["data"], _WORKER["aug"], *rank_step)


#: the per-joint entries of a training batch, (B, T, 17, ...), and those whose last axis starts with x
_PER_JOINT, _WITH_X = ("x", "gt_2d", "gt_3d", "flags", "visible", "unreliable"), ("x", "gt_2d", "gt_3d")


def mirror_batch(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The batch seen in a mirror: left and right joints swapped and x negated, in input and targets alike (the
    input encoding's x channel is centred, so it only changes sign)."""
    out = dict(batch)
    for k in _PER_JOINT:
        v = batch[k][:, :, FLIP_PERMUTATION]
        if k in _WITH_X:
            v = torch.cat([-v[..., :1], v[..., 1:]], -1)
        out[k] = v
    return out


class Batches:
    """The batches of steps ``start`` ... ``cfg.steps - 1``: built in this process (``cfg.workers`` = 0) or by
    that many forked processes a few steps ahead (bounded, so memory stays flat), identical either way. With
    ``cfg.echo`` = k, step s trains on built batch s // k, mirrored when s % k is odd (and ``cfg.echo_mirror``)."""

    def __init__(self, cfg: TrainConfig, data: TrainData, aug: Augmenter, rank: int, start: int, device: str):
        self.cfg, self.data, self.aug, self.rank, self.device = cfg, data, aug, rank, device
        self.builds = -(-cfg.steps // cfg.echo)
        self.next, self.pool, self.pending, self.current = start // cfg.echo, None, {}, (-1, {})
        if cfg.workers:
            import multiprocessing as mp

            _WORKER.update(cfg=cfg, data=data, aug=aug)
            self.pool = mp.get_context("fork").Pool(cfg.workers, initializer=_worker_start)

    def get(self, step: int) -> dict[str, torch.Tensor]:
        build, copy = divmod(step, self.cfg.echo)
        if self.current[0] != build:
            self.current = (build, self._built(build))
        return mirror_batch(self.current[1]) if copy % 2 and self.cfg.echo_mirror else self.current[1]

    def _built(self, build: int) -> dict[str, torch.Tensor]:
        if self.pool is None:
            return to_device(step_batch(self.cfg, self.data, self.aug, self.rank, build), self.device)
        ahead = 2 * self.cfg.workers
        while self.next < min(build + ahead, self.builds):
            self.pending[self.next] = self.pool.apply_async(_worker_batch, ((self.rank, self.next),))
            self.next += 1
        return to_device(self.pending.pop(build).get(), self.device)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.terminate()
            self.pool.join()
            self.pool = None


def _distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    rank = torch.distributed.get_rank() if world > 1 else 0
    return rank, world


#: the 3D TCN's first convolution, the one weight that ``confidence_products`` widens
STEM = "tcn3d.stem.0.weight"
#: the files a run folder holds; a restart with ``overwrite`` removes an earlier run's
RUN_FILES = r"config\.yaml|log\.csv|last\.pt|final\.pt|\..+\.partial\.\w+"


def initial_weights(cfg: TrainConfig, device: str = "cpu") -> dict[str, torch.Tensor]:
    """The lifter weights of ``cfg.init`` (float32), checked to fit ``cfg.model`` before any step is spent. From
    an ensemble (the shipped model), its lifter number ``cfg.init_member``'s: a run trains one. A lifter without
    confidence products may start a run with them: its stem is widened with zero weights for the products."""
    loaded = load_checkpoint(cfg.init, device)
    # the test-time settings may differ: they change no weight; so may the frame the 3D is in (ray_frame,
    # ray_input) and the rule for what a low-C* keypoint shows (the encoding's mode and flag vote): the same
    # network, taught by the fine-tuning to lift in the other frame or from the other input
    def design(c):
        w = weight_design(c)
        return replace(w, ray_frame=False, ray_input=False, encoding=replace(w.encoding, mode="soft", flag_frames=1))

    theirs, mine = design(loaded.config.model), design(cfg.model)
    # a lifter without confidence products may start one with them (its stem widened, the products unused)
    widen = mine.tcn.confidence_products and not theirs.tcn.confidence_products
    if widen:
        theirs = replace(theirs, tcn=replace(theirs.tcn, confidence_products=True))
    if theirs != mine:
        diff = [f"{k}: {getattr(theirs, k)} vs {getattr(mine, k)}" for k in vars(mine)
                if getattr(theirs, k) != getattr(mine, k)]
        raise ValueError(f"init {cfg.init}: its model differs from this run's ({'; '.join(diff)}); fine-tuning "
                         "needs the same network and input encoding")
    members = loaded.config.model.ensemble
    if cfg.init_member >= members:
        raise ValueError(f"init_member is {cfg.init_member}, but {cfg.init} holds {members} lifter(s) (0-based)")
    weights = loaded.model.state_dict()
    if cfg.init_member == 0:
        lifter = {k: v for k, v in weights.items() if not k.startswith("others.")}
    else:
        prefix = f"others.{cfg.init_member - 1}."  # the lifters after the first are PoseLifter.others
        lifter = {k[len(prefix):]: v for k, v in weights.items() if k.startswith(prefix)}
    if widen:
        lifter[STEM] = widen_stem(lifter[STEM])
    return lifter


def _run_folder(run_dir: str | os.PathLike, resume: bool, overwrite: bool) -> tuple[Path, bool]:
    """The checked run folder and whether training continues from its ``last.pt``. Writes nothing."""
    run_dir, used = run_folder(run_dir)
    continuing = resume and (run_dir / "last.pt").is_file()
    if resume and used and not continuing:
        raise FileNotFoundError(f"{run_dir / 'last.pt'}: nothing to resume from in this non-empty run folder")
    if used and not (continuing or overwrite):
        raise FileExistsError(f"{run_dir} is not empty: pass --resume to continue or --overwrite to restart")
    return run_dir, continuing


def train(cfg: TrainConfig, run_dir: str | os.PathLike, resume: bool = False, device: str | None = None,
          progress: bool = True, overwrite: bool = False) -> Path:
    """Train and return the path of the final checkpoint (``run_dir/final.pt``).

    Everything is checked (folder, device, data, the checkpoint to resume from) before anything is written;
    a run that fails before its first checkpoint leaves no folder behind, and an interrupted one saves
    ``last.pt`` so that ``resume`` continues it."""
    if cfg.model.ensemble != 1:
        raise ValueError(f"model.ensemble is {cfg.model.ensemble}: a run trains one lifter; an ensemble is packaged "
                         "from runs trained apart (tools/ship_model.py RUN --ensemble RUN2)")
    rank, world = _distributed()
    run_dir, continuing = _run_folder(run_dir, resume, overwrite)
    last = run_dir / "last.pt"
    device = check_device(device if device is not None or not torch.cuda.is_available()
                          else f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed + rank)

    data = build_data(cfg)
    aug = Augmenter(cfg.augment, cfg.model.encoding.filter)
    model = PoseLifter(cfg.model).to(device)
    disc = Discriminator(cfg.model.discriminator_channels).to(device) if cfg.use_adversarial else None
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    opt_d = torch.optim.Adam(disc.parameters(), lr=cfg.lr) if disc is not None else None
    start = 0
    if cfg.init is not None and not continuing:
        model.load_state_dict(initial_weights(cfg, device))
    if continuing:
        ckpt = read_checkpoint(last, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, "training state", device)
        saved = from_dict(TrainConfig, ckpt["config"], str(last))
        # a run may be extended (more steps) or logged differently, nothing else may change
        if replace(saved, steps=cfg.steps, log_every=cfg.log_every, checkpoint_every=cfg.checkpoint_every,
                   workers=cfg.workers, threads=cfg.threads) != cfg:
            raise ValueError(f"{last}: was trained with a different config; resume with the same one "
                             "(only steps, log_every, checkpoint_every, workers and threads may change)")
        try:
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            if disc is not None:
                disc.load_state_dict(ckpt["discriminator"])
                opt_d.load_state_dict(ckpt["disc_optimizer"])
            start = int(ckpt["step"])
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise ValueError(f"{last}: not a complete training state ({exc})") from exc
        torch.manual_seed(cfg.seed + rank + start)
    # only rank 0 writes; a run that fails with nothing to resume leaves no folder behind
    with made_folder(run_dir, keep=lambda: rank != 0 or last.is_file()):
        if rank == 0:
            if not continuing:
                clear_owned(run_dir, RUN_FILES)
            with atomic_file(run_dir / "config.yaml", overwrite=True) as tmp:
                save_config(cfg, tmp)
        return _train_loop(cfg, model, disc, opt, opt_d, data, aug, run_dir, start, device, world, rank,
                           progress)


def _train_loop(cfg: TrainConfig, model: PoseLifter, disc: Discriminator | None, opt, opt_d, data: TrainData,
                aug: Augmenter, run_dir: Path, start: int, device: str, world: int,
                rank: int, progress: bool) -> Path:
    last = run_dir / "last.pt"
    net: nn.Module = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    log_path = run_dir / "log.csv"
    log_file = open(log_path, "a" if start else "w", newline="") if rank == 0 else None
    writer = csv.writer(log_file) if log_file else None
    if writer and start == 0:
        writer.writerow(["step", "lr", "loss", *STEP_TERMS, "seconds"])
    bar = tqdm(range(start, cfg.steps), initial=start, total=cfg.steps, disable=not progress or rank != 0,
               desc=f"train {cfg.name}", unit="step")
    t0 = time.time()
    if start and log_path.is_file():  # keep "seconds" cumulative over resumed runs
        with open(log_path) as f:
            rows = [r for r in csv.reader(f)][1:]
        t0 -= float(rows[-1][-1]) if rows else 0.0
    # the step's loss terms are summed on the device and read back only to log or before a checkpoint: reading
    # a GPU value every step makes the CPU wait for the GPU and leaves it idle while the next step is queued
    acc = Terms(start)
    batches = Batches(cfg, data, aug, rank, start, device)
    # Eq. 8 where a window can lack 3D (or everywhere, "all"); a fully supervised run never computes it
    regularize = cfg.pose_regularizer == "all" or (cfg.pose_regularizer == "2d_only" and not data.supervised.all())
    done = start
    try:
        for step in bar:
            lr = lr_at(cfg, step)
            acc.add(_step(cfg, net, model, disc, opt, opt_d, batches.get(step), lr, regularize))
            done = step + 1
            log = done % cfg.log_every == 0 or done == cfg.steps
            save = done % cfg.checkpoint_every == 0 or done == cfg.steps
            if log or save:
                acc.check(done)
            if log:
                mean = acc.mean()
                if rank == 0:
                    writer.writerow([done, lr, *(f"{mean[k]:.6g}" for k in mean), f"{time.time() - t0:.1f}"])
                    log_file.flush()
                    if cfg.weights.distance == "euclidean":  # Eq. 4's term is then a sum of distances
                        bar.set_postfix(loss=f"{mean['loss']:.4f}", mean_mm=f"{1000 * mean['mse'] / NUM_JOINTS:.0f}")
                    else:
                        rms_mm = 1000 * math.sqrt(max(mean["mse"], 0) / NUM_JOINTS)  # per-joint RMS 3D error
                        bar.set_postfix(loss=f"{mean['loss']:.4f}", rms_mm=f"{rms_mm:.0f}")
            if rank == 0 and save:
                save_checkpoint(last, model, cfg, done, _train_state(opt, disc, opt_d))
    except KeyboardInterrupt:
        # keep what was learnt (--resume continues from here), unless a loss went non-finite since the last check
        if rank == 0 and done > start and acc.ok():
            save_checkpoint(last, model, cfg, done, _train_state(opt, disc, opt_d))
            print(f"\ninterrupted after step {done}: saved {last}; continue with --resume")
        raise
    finally:
        batches.close()
        bar.close()
        if log_file:
            log_file.close()
    final = run_dir / "final.pt"
    if rank == 0:
        save_checkpoint(final, model, cfg, cfg.steps)
    if world > 1:
        torch.distributed.barrier()
    return final


#: the loss terms of one step, as log.csv's columns
STEP_TERMS = ("l2d", "mse", "proj", "sym", "adv", "reg", "disc")


class Terms:
    """The loss terms of the steps since the last log, summed where they were computed (on a GPU: no wait for it
    each step) and read back only to log or to check them before a checkpoint."""

    def __init__(self, checked: int = 0):
        #: the last step at which every term was seen to be finite
        self.checked = checked
        self.sums: torch.Tensor | None = None
        self.count = 0
        self._read: list[float] | None = None

    def add(self, values: dict[str, torch.Tensor]) -> None:
        stacked = torch.stack([values[k].detach().double() for k in ("loss", *STEP_TERMS)])
        self.sums = stacked if self.sums is None else self.sums + stacked
        self.count += 1
        self._read = None

    def _values(self) -> list[float]:
        if self._read is None:
            self._read = [] if self.sums is None else self.sums.tolist()  # the one wait for the device
        return self._read

    def ok(self) -> bool:
        """Every term since the last log finite (a NaN or inf stays in the sums)."""
        return all(math.isfinite(v) for v in self._values())

    def check(self, done: int) -> None:
        """Raise if a term went non-finite since the last log, before it reaches a log or a checkpoint."""
        if not self.ok():
            raise FloatingPointError(f"the loss became {self._values()[0]} between steps {self.checked + 1} and "
                                     f"{done}")
        self.checked = done

    def mean(self) -> dict[str, float]:
        """The means since the last log, keyed "loss" and STEP_TERMS; the sums start again."""
        out = dict(zip(("loss", *STEP_TERMS), (v / max(self.count, 1) for v in self._values())))
        self.sums, self.count, self._read = None, 0, None
        return out


def _train_state(opt, disc, opt_d) -> dict:
    extra = {"optimizer": opt.state_dict()}
    if disc is not None:
        extra.update(discriminator=disc.state_dict(), disc_optimizer=opt_d.state_dict())
    return extra


def _step(cfg: TrainConfig, net: nn.Module, model: PoseLifter, disc: Discriminator | None, opt, opt_d,
          batch: dict[str, torch.Tensor], lr: float, regularize: bool) -> dict[str, torch.Tensor]:
    """One optimisation step of the lifter (Eq. 9) and of the discriminator; the loss terms, as tensors where
    they were computed (reading them would wait for the device)."""
    w = cfg.weights
    for g in opt.param_groups:
        g["lr"] = lr
    net.train()
    zeta = batch["zeta"]
    x = batch["x"]
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16"):
        pred_2d, pred_3d = net(x)
    pred_2d, pred_3d = pred_2d.float(), pred_3d.float()  # the losses in float32 whatever the network ran in
    l2d = (L.loss_2d_tcn(pred_2d, batch["gt_2d"], batch["flags"]) if cfg.model.use_2d_tcn
           else pred_3d.new_zeros(()))
    fake = disc(pred_3d) if disc is not None else None
    terms = L.loss_3d(pred_3d, batch["gt_3d"], batch["gt_2d"], batch["visible"], zeta, fake, w)
    if not cfg.use_symmetry:
        terms["l3d"] = terms["l3d"] - w.alpha * terms["sym"]
    zeta_reg = torch.zeros_like(zeta) if cfg.pose_regularizer == "all" else zeta
    lreg = (L.loss_pose_regularizer(pred_3d, batch["unreliable"], zeta_reg, cfg.augment.cylinder)
            if regularize else pred_3d.new_zeros(()))
    loss = L.total_loss(l2d, terms["l3d"], lreg, w)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
    opt.step()
    ld = loss.new_zeros(())
    if disc is not None:
        for g in opt_d.param_groups:
            g["lr"] = lr
        ld = L.loss_discriminator(disc(batch["gt_3d"]), disc(pred_3d.detach()))
        opt_d.zero_grad(set_to_none=True)
        ld.backward()
        opt_d.step()
    return {"loss": loss, "l2d": l2d, "mse": terms["mse"], "proj": terms["proj"], "sym": terms["sym"],
            "adv": terms["adv"], "reg": lreg, "disc": ld}
