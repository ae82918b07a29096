"""The 2D -> 3D lifter: 2D TCN then 3D TCN, checkpoints, and lifting of whole sequences.

Data flow: 2D keypoints + Eq. 2 confidence -> the model's input encoding (:mod:`encoding`: normalised, missing
joints zeroed and flagged in the paper's mode) -> 2D TCN (smooths, does not fill) -> 3D TCN (all 17 joints,
root-relative camera frame, metres).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .camera import ray_rotations, seen_along_rays
from .checkpoint import read_checkpoint
from .config import ModelConfig, TrainConfig, from_dict, to_dict
from .encoding import DROPPING, Encoded, InputEncoding, encode, nanmedian_torch
from .models import STRIDE_GRID, TCN, Lifter3D
from .safeio import atomic_file
from .skeleton import ANCESTRY, BONES, FLIP_PERMUTATION, ROOT, TWIN_MEAN

CHECKPOINT_FORMAT = "occlupose-lifter"
CHECKPOINT_VERSION = 1
DEFAULT_WEIGHTS = "default.pt"
#: the lifters that ship in the package, by the name ``--model`` accepts: the default; ``causal`` for live use;
#: ``occluded`` for people behind objects (the paper's hard encoding: docs/results.md, "The hard encoding at the
#: shipped budget")
PACKAGED = ("default", "causal", "occluded")
#: :meth:`PoseLifter.infer` puts its flip and grid variants in one batch up to this many frames in all
ONE_BATCH_FRAMES = 1 << 16


class _Member(nn.Module):
    """One more lifter of an ensemble (:attr:`ModelConfig.ensemble`): the same 2D TCN and 3D TCN as the first."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.tcn2d = TCN(3, 2, cfg.tcn) if cfg.use_2d_tcn else None
        self.tcn3d = Lifter3D(cfg.tcn)


class PoseLifter(nn.Module):
    """2D TCN (optional) + 3D TCN, as one module: (B, T, 17, 3) input -> (2D (B,T,17,2), 3D (B,T,17,3)). With
    ``cfg.ensemble`` > 1 it holds that many such pairs, trained apart, and gives the mean of their outputs."""

    def __init__(self, cfg: ModelConfig = ModelConfig()):
        super().__init__()
        self.cfg = cfg
        self.tcn2d = TCN(3, 2, cfg.tcn) if cfg.use_2d_tcn else None
        self.tcn3d = Lifter3D(cfg.tcn)
        # empty for one lifter, so its weights' names are those of every checkpoint before ensembles
        self.others = nn.ModuleList(_Member(cfg) for _ in range(cfg.ensemble - 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        outs = [self._pair(m.tcn2d, m.tcn3d, x) for m in (self, *self.others)]
        if len(outs) == 1:
            return outs[0]
        return torch.stack([o[0] for o in outs]).mean(0), torch.stack([o[1] for o in outs]).mean(0)

    def _pair(self, tcn2d: TCN | None, tcn3d: Lifter3D, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        third = x[..., 2:3]
        if tcn2d is not None:
            smooth = tcn2d(x)
            # paper, gated: the 2D TCN does not fill missing keypoints, they stay zero (third channel 0) for the
            # 3D TCN; soft: every smoothed guess goes on with its confidence
            shown = smooth * (third > 0) if self.cfg.encoding.mode in DROPPING else smooth
            x = torch.cat([shown, third], dim=-1)
        else:
            smooth = x[..., :2]
        return smooth, tcn3d(x)

    def infer(self, x: torch.Tensor, pull: bool = True) -> torch.Tensor:
        """(B, T, 17, 3) input -> (B, T, 17, 3) poses for use (not training), all variants in one batch (one
        pass of per-layer overhead, which dominates for the short windows of live use). With ``cfg.flip_test``
        the mean of the prediction and the mirrored prediction for the mirrored input (the person seen in a
        mirror has the same pose with left and right swapped), which averages out some of the network's
        asymmetric error. With ``cfg.shift_test`` (not for a causal model) also the mean over the sequence
        started at each place of the stride grid: edge frames repeated 0-3 times before it and 3-0 after. With
        ``cfg.bone_test`` (and ``pull``) bone lengths pulled toward their median (:func:`pull_bones`): over the
        sequence, or for a causal model over the last ``cfg.encoding.causal_window`` frames."""
        b, t = x.shape[:2]
        variants = [x]
        if self.cfg.flip_test:
            mirror = torch.tensor([-1.0, 1.0, 1.0], dtype=x.dtype, device=x.device)
            variants.append(x[..., FLIP_PERMUTATION, :] * mirror)
        shifts = STRIDE_GRID if self.cfg.grid_averaged else 1
        if shifts > 1:  # every variant the same length, T + 3
            variants = [_repeat_edges(v, s, shifts - 1 - s) for v in variants for s in range(shifts)]
        if len(variants) * b * x.shape[1] <= ONE_BATCH_FRAMES:
            out = self(torch.cat(variants))[1]
        else:  # a long video: one variant at a time, so memory is one pass's, not up to 8 times it
            out = torch.cat([self(v)[1] for v in variants])
        out = out.unflatten(0, (len(variants), b))
        if shifts > 1:
            out = torch.stack([out[i, :, i % shifts:i % shifts + t] for i in range(len(variants))])
        if self.cfg.flip_test:
            half = len(out) // 2
            out = torch.cat([out[:half], out[half:][..., FLIP_PERMUTATION, :] * mirror])
        out = out.mean(0)
        if not (pull and self.cfg.bones_pulled):
            return out
        return pull_bones(out, self.cfg.bone_test, self.cfg.encoding.causal_window if self.cfg.tcn.causal else None)


def pull_bones(poses: torch.Tensor, share: float, window: int | None = None) -> torch.Tensor:
    """(B, T, 17, 3) poses -> the same with each bone's length pulled ``share`` of the way (in log scale) toward
    its median over the T frames, a left bone and its right twin sharing the mean of their medians; directions
    and the root kept. Why: a person's bones do not change length, but a lifter's guesses do from frame to frame
    (most where a joint is hidden), and the sequence's median is a steadier estimate of the body than any frame.
    ``window`` (a causal model's): each frame's median over the last ``window`` frames, itself included (fewer at
    the start), so no frame's pose depends on a later one. Medians as numpy's (the mean of the two middle values
    for an even count)."""
    bones = poses[..., BONES[:, 1], :] - poses[..., BONES[:, 0], :]  # (B, T, 16, 3)
    length = bones.norm(dim=-1)  # (B, T, 16)
    if window is None:
        target = nanmedian_torch(length.transpose(1, 2))[:, None]  # (B, 1, 16)
    else:
        target = running_median(length, window)  # (B, T, 16)
    target = target @ torch.as_tensor(TWIN_MEAN, dtype=poses.dtype, device=poses.device)
    scale = (target / length.clamp_min(1e-6)) ** share  # (B, T, 16)
    ancestry = torch.as_tensor(ANCESTRY, dtype=poses.dtype, device=poses.device)
    return poses[..., ROOT:ROOT + 1, :] + torch.einsum("jb,ntbd->ntjd", ancestry, bones * scale[..., None])


#: frames per block of :func:`running_median` (bounds its memory on a long video: block x window x 16 values)
RUNNING_BLOCK = 2048


def running_median(values: torch.Tensor, window: int) -> torch.Tensor:
    """(B, T, N) -> (B, T, N): at each frame the median over the last ``window`` frames, itself included (fewer
    at the start), as numpy's: every frame's window gathered at once, in blocks of frames (bounded memory)."""
    t = values.shape[1]
    nan = values[:, :1] * float("nan")  # (B, 1, N), computed from the input so that B stays dynamic in ONNX
    padded = torch.cat([nan.expand(-1, window - 1, -1), values], 1) if window > 1 else values  # (B, window-1+T, N)
    # (T, window): frame i's window in padded. The frame numbers are counted from the data (True for every frame,
    # NaN or not), not arange(T) or ones_like, which an ONNX export folds into constants of the traced length
    first = values[0, :, 0]
    frames = ((first == first) | (first != first)).long().cumsum(0) - 1
    index = frames[:, None] + torch.arange(window, device=values.device)[None]
    if torch.onnx.is_in_onnx_export():  # T unknown when traced: one block (a slice would fix its length)
        return nanmedian_torch(padded[:, index].transpose(-1, -2))
    return torch.cat([nanmedian_torch(padded[:, index[s:s + RUNNING_BLOCK]].transpose(-1, -2))
                      for s in range(0, t, RUNNING_BLOCK)], 1)


def _repeat_edges(x: torch.Tensor, before: int, after: int) -> torch.Tensor:
    """(B, T, ...) -> (B, before + T + after, ...): the first frame repeated before, the last after (no empty
    pieces: ONNX's Expand turns a length 0 into 1)."""
    parts = ([x[:, :1].expand(-1, before, *x.shape[2:])] if before else []) + [x]
    parts += [x[:, -1:].expand(-1, after, *x.shape[2:])] if after else []
    return torch.cat(parts, 1) if len(parts) > 1 else x


def focal_units(keypoints: np.ndarray, camera: tuple[float, float, float]) -> np.ndarray:
    """(..., 2) pixels -> focal-length units about the principal point, the unit the ray frame is defined in;
    ``camera``: (focal length, principal point x, y) in the keypoints' unit. One rule for :func:`lift` and the
    live stream, which must agree."""
    return (keypoints - np.asarray(camera[1:], dtype=np.float64)) / camera[0]


def turn_by_ray(poses: np.ndarray, centre: np.ndarray, pinhole: np.ndarray | bool, to_camera: bool) -> np.ndarray:
    """(..., T, 17, 3) root-relative poses turned between the camera frame and the frame of the pelvis's viewing
    ray (:attr:`ModelConfig.ray_frame`): ``centre`` (..., T, 2) the 2D centre in focal-length units; ``pinhole``
    (...,) which sequences have a pinhole camera (an orthographic view has no ray: left as is)."""
    rot = ray_rotations(np.asarray(centre, np.float64))  # (..., T, 3, 3), X_cam = R X_ray
    rot = np.where(np.asarray(pinhole)[..., None, None, None], rot, np.eye(3))
    # row vectors: camera -> ray is p @ R, ray -> camera p @ R^T ((..., T, 17, 3) @ (..., T, 3, 3))
    poses = np.asarray(poses)
    return (poses @ (np.swapaxes(rot, -1, -2) if to_camera else rot)).astype(poses.dtype)


def encode_in_view(cfg: ModelConfig, keypoints: np.ndarray, confidence: np.ndarray, pinhole: np.ndarray | bool,
                   encoding: InputEncoding | None = None) -> tuple[Encoded, np.ndarray]:
    """The lifter's input for (..., T, 17, 2) keypoints (focal-length units about the principal point where
    ``pinhole`` (...,), else any unit) and their C*: (encoded, the (..., T, 2) centre whose viewing ray the
    model's 3D is turned by). With ``cfg.ray_input`` the pinhole sequences are first seen along that ray.
    ``encoding``: the model's own unless given (another threshold b)."""
    enc = cfg.encoding if encoding is None else encoding
    encoded = encode(keypoints, confidence, enc)
    if not cfg.ray_input:
        return encoded, encoded.centre
    pin = np.asarray(pinhole)[..., None, None, None]
    seen = np.where(pin, seen_along_rays(np.asarray(keypoints, np.float64), encoded.centre), keypoints)
    return encode(seen.astype(np.asarray(keypoints).dtype), confidence, enc), encoded.centre


@torch.no_grad()
def lift_in_view(model: PoseLifter, keypoints: np.ndarray, confidence: np.ndarray, pinhole: np.ndarray | bool,
                 device: str = "cpu", encoding: InputEncoding | None = None) -> np.ndarray:
    """(B, T, 17, 2) or (T, 17, 2) keypoints at the model's rate (focal-length units about the principal point
    where ``pinhole`` (B,) / scalar) and their C* -> the same-shaped (..., 17, 3) root-relative 3D in the camera's
    frame: the encoding (``encoding``: the model's own unless given), the network and, for a ray-frame model, the
    turn back. For data already at the model's rate (the evaluation's views, and :func:`lift` once it has
    resampled and checked a user's sequence)."""
    enc, centre = encode_in_view(model.cfg, keypoints, confidence, pinhole, encoding)
    x = enc.x if enc.x.ndim == 4 else enc.x[None]
    out = model.infer(torch.from_numpy(x).to(device)).cpu().numpy().reshape(enc.x.shape)
    return turn_by_ray(out, centre, pinhole, to_camera=True) if model.cfg.ray_frame else out


def prepare_input(model: PoseLifter, keypoints: np.ndarray, confidence: np.ndarray) -> Encoded:
    """(..., T, 17, 2) keypoints and (..., T, 17) C* (or a reliability mask) -> the input ``model`` was
    trained on (its checkpoint's encoding)."""
    return encode(keypoints, confidence, model.cfg.encoding)


@dataclass
class LoadedModel:
    model: PoseLifter
    config: TrainConfig
    name: str
    meta: dict


def _git_commit() -> str:
    """HEAD of the checkout the code runs from; ``OCCLUPOSE_COMMIT`` where the tree is a copy without git (a
    GPU machine's)."""
    import subprocess

    if os.environ.get("OCCLUPOSE_COMMIT"):
        return os.environ["OCCLUPOSE_COMMIT"]
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
    with atomic_file(path, overwrite=True) as tmp:  # a crash never leaves half a checkpoint
        torch.save(payload, tmp)


def is_packaged(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a packaged model (:data:`PACKAGED`) rather than a file: a file of that name wins."""
    return str(path) in PACKAGED and not Path(path).exists()


def load_checkpoint(path: str | os.PathLike | None = None, device: str = "cpu") -> LoadedModel:
    """Load a lifter checkpoint: a file, a packaged model's name (:data:`PACKAGED`),
    or None for the default model. Clear errors for bad files."""
    if path is None or is_packaged(path):
        name = DEFAULT_WEIGHTS if path is None else f"{path}.pt"
        ref = resources.files("occlupose") / "weights" / name
        with resources.as_file(ref) as p:
            if not p.is_file():
                raise FileNotFoundError(f"the packaged model {p} is missing from this installation")
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


def with_test_time(cfg: ModelConfig, flip: bool = False, grid: bool = False,
                   confidence_frames: int | None = None, bones: float | None = None) -> ModelConfig:
    """``cfg`` with test-time settings switched on (flip averaging, stride-grid averaging, C* shown averaged over
    ``confidence_frames``, bone lengths pulled toward the sequence's by the share ``bones``), the others as they
    are: the weights do not depend on them, so a trained run can be scored or packaged with them."""
    if flip:
        cfg = replace(cfg, flip_test=True)
    if grid:
        cfg = replace(cfg, shift_test=True)
    if bones is not None:
        cfg = replace(cfg, bone_test=bones)
    if confidence_frames:
        cfg = replace(cfg, encoding=replace(cfg.encoding, confidence_frames=confidence_frames))
    return cfg


def test_time_options(flip: bool = False, grid: bool = False, confidence_frames: int | None = None,
                      bones: float | None = None) -> str:
    """The command-line options (" --flip --grid ...") that ask for :func:`with_test_time`'s settings, for the
    rerun line a benchmark or tool prints."""
    text = "".join(f" {option}" for option, on in (("--flip", flip), ("--grid", grid)) if on)
    text += f" --confidence-frames {confidence_frames}" if confidence_frames else ""
    return text + (f" --bones {bones:g}" if bones is not None else "")


def weight_design(cfg: ModelConfig) -> ModelConfig:
    """``cfg`` without what the weights of one lifter do not depend on (the test-time settings: flip and grid
    averaging, C* shown averaged over time, bone lengths pulled; and how many lifters are averaged): equal for
    two configs whose lifters' weights are interchangeable."""
    return replace(cfg, flip_test=False, shift_test=False, bone_test=0.0, ensemble=1,
                   encoding=replace(cfg.encoding, confidence_frames=1))


def combine(models: list[PoseLifter]) -> PoseLifter:
    """One :class:`PoseLifter` averaging ``models``' 3D (an ensemble): lifters of one design (the same model
    config; their training seeds may differ), the first one's test-time settings. Why: separately trained
    lifters err differently, and their mean is better than any of them (docs/results.md, "Two lifters
    averaged")."""
    if not models:
        raise ValueError("an ensemble needs at least one lifter")
    single = [m for m in models if m.cfg.ensemble == 1]
    if len(single) != len(models):
        raise ValueError("each lifter of an ensemble must be a single lifter, not an ensemble itself")
    design = [replace(m.cfg, flip_test=False, shift_test=False, bone_test=0.0) for m in models]
    if any(d != design[0] for d in design[1:]):
        raise ValueError("the lifters of an ensemble must share one design (the same model config: width, "
                         "encoding, 2D TCN); they differ")
    out = PoseLifter(replace(models[0].cfg, ensemble=len(models)))
    for member, m in zip((out, *out.others), models):
        member.tcn3d.load_state_dict(m.tcn3d.state_dict())
        if member.tcn2d is not None:
            member.tcn2d.load_state_dict(m.tcn2d.state_dict())
    return out.to(next(models[0].parameters()).device).eval()


def resample(x: np.ndarray, src_fps: float, dst_fps: float, n_out: int | None = None) -> np.ndarray:
    """Linear resampling of (T, ...) along time from src_fps to dst_fps (n_out frames if given)."""
    t = len(x)
    if n_out is None:
        n_out = max(1, int(round((t - 1) * dst_fps / src_fps)) + 1) if t > 1 else 1
    return resample_at(x, np.arange(t) / src_fps, np.arange(n_out) / dst_fps)


def resample_at(x: np.ndarray, t_src: np.ndarray, t_dst: np.ndarray) -> np.ndarray:
    """Linear interpolation of (T, ...) samples taken at times ``t_src`` (T,) increasing, at times ``t_dst``
    (N,); times outside ``t_src`` hold the edge sample."""
    x = np.asarray(x)
    t_src, t_dst = np.asarray(t_src, np.float64), np.asarray(t_dst, np.float64)
    if len(x) == 1:
        return np.repeat(x[:1], len(t_dst), 0).astype(np.float64)
    i1 = np.clip(np.searchsorted(t_src, t_dst, side="right"), 1, len(t_src) - 1)
    i0 = i1 - 1
    span = np.maximum(t_src[i1] - t_src[i0], 1e-12)
    w = np.clip((t_dst - t_src[i0]) / span, 0.0, 1.0).reshape(-1, *([1] * (x.ndim - 1)))
    return (1 - w) * x[i0] + w * x[i1]


def uniform_times(times: np.ndarray, fps: float) -> np.ndarray:
    """(N,) times every 1/``fps`` s from the first of ``times`` to (at most) the last."""
    return times[0] + np.arange(int(np.floor((times[-1] - times[0]) * fps + 1e-6)) + 1) / fps


def frame_times(n: int, fps: float | None, times: np.ndarray | None) -> np.ndarray:
    """(n,) seconds of each frame: ``times`` when given (variable frame rate), else ``i / fps``."""
    if times is None:
        if fps is None or not (np.isfinite(fps) and fps > 0):
            raise ValueError(f"the frame rate must be a positive number, got {fps}")
        return np.arange(n) / fps
    times = np.asarray(times, np.float64)
    if times.shape != (n,) or not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
        raise ValueError(f"frame times must be ({n},) finite and increasing")
    return times


def drop_placeholders(keypoints: np.ndarray, reliable: np.ndarray) -> np.ndarray:
    """(T, 17) reliability with the frames whose reliable keypoints all sit on one point (a tool's "no person"
    placeholder, such as every joint at (0, 0)) marked missing."""
    rel = np.asarray(reliable, bool)
    lo = np.where(rel[..., None], keypoints, np.inf).min(1)  # (T, 2)
    hi = np.where(rel[..., None], keypoints, -np.inf).max(1)
    spread = np.where(rel.any(1), (hi - lo).max(-1), 0.0)
    return rel & (spread > 0)[:, None]


def usable_keypoints(keypoints: np.ndarray, reliable: np.ndarray) -> np.ndarray:
    """:func:`drop_placeholders`, and an error when no frame is left."""
    rel = np.asarray(reliable, bool)
    if not rel.any():
        raise ValueError("no keypoint is reliable in any frame (every score is below the threshold): "
                         "there is nothing to lift")
    rel = drop_placeholders(keypoints, rel)
    if not rel.any():
        raise ValueError("in every frame the reliable keypoints sit on one point (e.g. all at (0, 0)): "
                         "that is no person; there is nothing to lift")
    return rel


@torch.no_grad()
def lift(model: PoseLifter, keypoints: np.ndarray, confidence: np.ndarray, fps: float | None = None,
         device: str = "cpu", times: np.ndarray | None = None, threshold: float | None = None,
         camera: tuple[float, float, float] | None = None) -> np.ndarray:
    """Lift one 2D sequence: keypoints (T, 17, 2) in any unit (pixels, y down; NaN where there is none),
    confidence (T, 17): the Eq. 2 confidence C* in [0, 1], or a bool reliability mask.

    A keypoint below the threshold b (``threshold``, default: the model's own, from its checkpoint) is
    missing. Frames are at ``times`` (T,) seconds when given (variable frame rate video), else every 1/``fps``
    s (default: the model's rate). The sequence is resampled to the model's frame rate and back, so any rate
    and any T >= 1 work. Returns (T, 17, 3) root-relative camera-frame poses in metres.

    ``camera``: (focal length, principal point x, y) in the keypoints' unit, for a model whose 3D is in the frame
    of the pelvis's viewing ray (:attr:`ModelConfig.ray_frame`): its 3D is turned into the camera frame. Without
    it such a model's 3D stays as if the person were straight ahead of the camera; other models ignore it.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    conf = np.asarray(confidence, dtype=np.float64)
    if kp.ndim != 3 or kp.shape[1:] != (17, 2) or conf.shape != kp.shape[:2]:
        raise ValueError(f"keypoints must be (T, 17, 2) and confidence (T, 17); got {kp.shape} and {conf.shape}")
    if len(kp) == 0:
        raise ValueError("empty sequence (T = 0)")
    enc = model.cfg.encoding if threshold is None else replace(model.cfg.encoding, threshold=threshold)
    conf = np.where(np.isfinite(conf), conf, 0.0)
    rel = conf >= enc.threshold
    if not np.all(np.isfinite(kp[rel])):
        raise ValueError("reliable keypoints contain NaN or infinite values")
    rel = usable_keypoints(kp, rel)
    # a frame with no usable keypoint (a placeholder) holds no guesses either
    frame_ok = rel.any(1)
    conf = np.where(frame_ok[:, None], conf, 0.0)
    kp = np.where(np.isfinite(kp) & frame_ok[:, None, None], kp, np.nan)
    model_fps = model.cfg.fps
    t_in = frame_times(len(kp), model_fps if fps is None and times is None else fps, times)
    t_model = uniform_times(t_in, model_fps)
    if len(t_model) == len(t_in) and np.allclose(t_model, t_in, atol=1e-6):
        kp_m, conf_m, t_model = kp, conf, None
    else:
        exists = np.isfinite(kp).all(-1)
        kp_m = resample_at(np.where(exists[..., None], kp, 0.0), t_in, t_model)
        exists_m = resample_at(exists.astype(np.float64), t_in, t_model) > 0.999
        kp_m = np.where(exists_m[..., None], kp_m, np.nan)
        # a model frame is reliable only where both input frames around it are
        rel_m = resample_at(rel.astype(np.float64), t_in, t_model) > 0.999
        conf_m = resample_at(conf, t_in, t_model)
        conf_m = np.where(rel_m, np.maximum(conf_m, enc.threshold), np.minimum(conf_m, np.nextafter(enc.threshold, 0)))
    pinhole = model.cfg.ray_frame and camera is not None
    if pinhole:
        kp_m = focal_units(kp_m, camera)
    model.eval()
    poses = lift_in_view(model, kp_m, conf_m, pinhole, device, enc).astype(np.float64)
    if t_model is not None:
        poses = resample_at(poses, t_model, t_in)
    return poses.astype(np.float32)
