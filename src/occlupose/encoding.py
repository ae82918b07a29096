"""The lifter's input: the one place that decides how 2D keypoints and their confidences become what the
TCNs see. numpy for data and inference, torch for the end-to-end model; a test keeps the two equal. Every
checkpoint records its :class:`InputEncoding` (mode, the paper's b and sigma), and ``run``, ``lift``,
``evaluate`` and the end-to-end model read it from there.

Modes (``x`` is (..., T, 17, 3): normalised position and a third channel per joint):

* ``paper`` (Sec. 3.2): a keypoint whose Eq. 2 confidence C* is below b is *missing*: its position is zeroed
  and the third channel is a 0/1 flag. The guess the 2D model made for it is thrown away.
* ``soft``: every guess is kept and the third channel is C* itself, so the network learns how far to trust a
  low-confidence guess instead of being told to ignore it. b still picks the joints that set the
  normalisation and that the Eq. 8 regulariser looks at.
* ``unaware``: every guess kept, flag 1 (the occlusion-unaware baseline of Table 2).
* ``gated``: the paper's rule for what is shown (below b zeroed: behind a real object the guesses are bad and
  often above 0.3, docs/results.md "Behind a real object"), with C* itself as the third channel of the joints
  that are shown (0 for the dropped ones), so a trusted joint's confidence is not thrown away either.

Normalisation (all modes): each frame is centred on the pelvis (interpolated over time where the pelvis is
missing), and the sequence is divided by one scale, the median over frames of the RMS distance of the
reliable joints from the centre. Positions that do not exist (NaN, or frames where nobody was seen) are
zero with a zero third channel in every mode.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from .occlusion import OcclusionFilterConfig, normalize_2d
from .validate import at_least, one_of, positive, within

MODES = ("paper", "soft", "unaware", "gated")
#: modes that zero and flag the keypoints below b (the paper's "missing")
DROPPING = ("paper", "gated")


@dataclass(frozen=True)
class InputEncoding:
    """How (keypoints, C*) become the lifter's input; recorded in each checkpoint (defaults: the paper)."""

    mode: str = "paper"
    #: Eq. 2 threshold b: below it a keypoint is missing (paper) / does not count for the normalisation
    threshold: float = 0.3
    #: Eq. 2 sigma, in units of the person's box size: the flow check that produced C*
    sigma: float = 0.1
    #: frames with fewer reliable joints do not set the scale
    min_joints: int = 6
    #: live use: each frame normalised from itself and the frames before it only (the pelvis held from the last
    #: frame it was seen, the scale a median over the last ``causal_window`` frames)
    causal: bool = False
    causal_window: int = 128
    #: frames (at the model's rate) that vote on whether a joint is missing: it is missing where C* < b in most
    #: of the frames it was seen in around it (causal: in the last ``flag_frames``), so that a C* wavering
    #: about b does not switch the joint on and off frame by frame; 1: each frame alone (the paper)
    flag_frames: int = 1
    #: frames (at the model's rate) over which the C* shown to the network (the soft and gated modes' third
    #: channel) is averaged, centred on each (causal: the last ones), over the frames the joint was seen in: a
    #: C* flickering from frame to frame makes the 3D jitter. Which joints are reliable (b, the normalisation)
    #: is still decided on each frame's own C*. 1: each frame alone (the paper)
    confidence_frames: int = 1

    def __post_init__(self) -> None:
        one_of(self, "mode", MODES)
        within(self, 0.0, 1.0, "threshold")
        positive(self, "sigma")
        at_least(self, 1, "min_joints", "causal_window", "flag_frames", "confidence_frames", integer=True)
        if not self.flag_frames % 2:
            raise ValueError(f"InputEncoding.flag_frames must be odd (a vote with no ties), got {self.flag_frames}")
        if not self.confidence_frames % 2:
            raise ValueError(f"InputEncoding.confidence_frames must be odd (a window centred on its frame), got "
                             f"{self.confidence_frames}")

    @property
    def filter(self) -> OcclusionFilterConfig:
        """The Eq. 2 settings this encoding's C* and b mean."""
        return OcclusionFilterConfig(sigma=self.sigma, threshold=self.threshold)


@dataclass
class Encoded:
    x: np.ndarray  # (..., T, 17, 3) float32 network input
    centre: np.ndarray  # (..., T, 2) input units
    scale: np.ndarray  # (...,) input units per normalised unit; (..., T) for a causal encoding
    reliable: np.ndarray  # (..., T, 17) bool: C* >= b (and the position exists)

    def frame_scale(self) -> np.ndarray:
        """(..., T, 1, 1) the scale of each frame, to divide (..., T, 17, 2) positions by."""
        s = self.scale
        if s.ndim == self.centre.ndim - 2:  # one scale per sequence
            s = np.broadcast_to(s[..., None], self.centre.shape[:-1])
        return s[..., None, None]


def _forward_fill(values: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(..., T, D) values held forward from the last valid frame; (values, whether any frame so far was valid)."""
    t = np.broadcast_to(np.arange(valid.shape[-1]), valid.shape)
    last = np.maximum.accumulate(np.where(valid, t, -1), axis=-1)
    held = np.take_along_axis(values, np.maximum(last, 0)[..., None], axis=-2)
    return held, last >= 0


def normalize_2d_causal(keypoints: np.ndarray, reliable: np.ndarray, min_joints: int = 6, window: int = 128
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`occlusion.normalize_2d` from the past only: each frame's centre is the pelvis where reliable, else
    held from the last frame it was (before that, the reliable joints' mean, held likewise); each frame's scale
    the median RMS distance from the centre over the last ``window`` frames with >= ``min_joints`` reliable
    joints (with any, if none has that many; held, else 1). Returns (normalised (..., T, 17, 2),
    centre (..., T, 2), scale (..., T))."""
    kp = np.asarray(keypoints, dtype=np.float64)
    rel = np.asarray(reliable, dtype=bool)
    n_rel = rel.sum(-1)
    mean_rel = (kp * rel[..., None]).sum(-2) / np.maximum(n_rel, 1)[..., None]
    pelvis, seen_p = _forward_fill(kp[..., 0, :], rel[..., 0])
    mean, seen_m = _forward_fill(mean_rel, n_rel > 0)
    centre = np.where(seen_p[..., None], pelvis, np.where(seen_m[..., None], mean, 0.0))
    rms = np.sqrt((((kp - centre[..., None, :]) ** 2).sum(-1) * rel).sum(-1) / np.maximum(n_rel, 1))
    pad = [(0, 0)] * (rms.ndim - 1) + [(window - 1, 0)]

    def past_median(use: np.ndarray) -> np.ndarray:
        v = np.pad(np.where(use, rms, np.nan), pad, constant_values=np.nan)
        with warnings.catch_warnings():  # windows with nothing in them are NaN, handled below
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmedian(np.lib.stride_tricks.sliding_window_view(v, window, axis=-1), axis=-1)

    scale = past_median(n_rel >= min_joints)
    if not np.isfinite(scale).all():  # windows without a well-seen frame: any frame with a reliable joint
        scale = np.where(np.isfinite(scale), scale, past_median(n_rel > 0))
    ok = np.isfinite(scale) & (scale > 1e-9)
    held, seen = _forward_fill(np.where(ok, scale, 1.0)[..., None], ok)
    scale = np.where(ok, scale, np.where(seen, held[..., 0], 1.0))
    return (kp - centre[..., None, :]) / scale[..., None, None], centre, scale


def _window_sums(v: np.ndarray, k: int, causal: bool) -> np.ndarray:
    """(..., T, J) -> sums over the ``k`` frames centred on each (causal: ending at it), cut at the ends."""
    t = v.shape[-2]
    c = np.concatenate([np.zeros_like(v[..., :1, :]), np.cumsum(v, axis=-2)], axis=-2)  # (..., T + 1, J)
    hi = np.arange(t) + (1 if causal else k // 2 + 1)
    lo = hi - k
    return c[..., np.clip(hi, 0, t), :] - c[..., np.clip(lo, 0, t), :]


def vote(reliable: np.ndarray, exists: np.ndarray, enc: InputEncoding) -> np.ndarray:
    """(..., T, 17) reliability after the ``flag_frames`` vote: among the frames in the window where the joint
    exists, more were reliable than not (only where the joint exists itself)."""
    if enc.flag_frames == 1:
        return reliable
    yes = _window_sums(reliable.astype(np.int32), enc.flag_frames, enc.causal)
    seen = _window_sums(exists.astype(np.int32), enc.flag_frames, enc.causal)
    return exists & (2 * yes > seen)


def average_confidence(conf: np.ndarray, exists: np.ndarray, enc: InputEncoding) -> np.ndarray:
    """(..., T, 17) C* averaged over the ``confidence_frames`` window, over the frames where the joint exists
    (0 where it does not)."""
    k = enc.confidence_frames
    if k == 1:
        return conf
    # sums of the k values themselves, oldest first (not differences of running sums, whose rounding would move
    # a C* that sits exactly on b across it, as lift's resampling puts it)
    pad = [(0, 0)] * (conf.ndim - 2) + [(k - 1, 0) if enc.causal else (k // 2, k // 2), (0, 0)]

    def sums(v: np.ndarray) -> np.ndarray:
        return np.lib.stride_tricks.sliding_window_view(np.pad(v, pad), k, axis=-2).sum(-1)

    seen = sums(exists.astype(np.float64))
    return np.where(exists, sums(np.where(exists, conf, 0.0)) / np.maximum(seen, 1.0), 0.0)


def _clean(keypoints: np.ndarray, confidence: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    kp = np.asarray(keypoints, np.float64)
    conf = np.asarray(confidence, np.float64)
    if kp.shape[-1:] != (2,) or conf.shape != kp.shape[:-1]:
        raise ValueError(f"keypoints must be (..., 17, 2) and confidence (..., 17); got {kp.shape} and {conf.shape}")
    exists = np.isfinite(kp).all(-1)
    conf = np.where(exists & np.isfinite(conf), np.clip(conf, 0.0, 1.0), 0.0)
    return np.where(exists[..., None], kp, 0.0), conf, exists


def _channels(enc: InputEncoding, reliable, exists, conf, as_float):
    """(which positions are shown (0/1), the third channel) for either array library: the mode's one rule."""
    shown = as_float(reliable if enc.mode in DROPPING else exists)
    third = {"paper": shown, "soft": conf, "gated": conf * shown}.get(enc.mode, as_float(exists))
    return shown, third


def encode(keypoints: np.ndarray, confidence: np.ndarray, enc: InputEncoding = InputEncoding()) -> Encoded:
    """keypoints (..., T, 17, 2) any unit (NaN where there is none), confidence (..., T, 17): C* in [0, 1]
    or bool (a reliability mask reads as 1/0)."""
    kp, conf, exists = _clean(keypoints, confidence)
    reliable = exists if enc.mode == "unaware" else vote(exists & (conf >= enc.threshold), exists, enc)
    if enc.causal:
        norm, centre, scale = normalize_2d_causal(kp, reliable, enc.min_joints, enc.causal_window)
    else:
        norm, centre, scale = normalize_2d(kp, reliable, enc.min_joints)
    shown, third = _channels(enc, reliable, exists, average_confidence(conf, exists, enc),
                             lambda m: m.astype(np.float64))
    x = np.concatenate([norm * shown[..., None], third[..., None]], -1)
    return Encoded(x.astype(np.float32), centre, scale, reliable)


# --- torch: the same arithmetic, differentiable in the keypoints ---------------------------------------


def _fill_missing_torch(values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """:func:`occlusion._fill_missing` for (..., T, D) tensors: linear in time between valid samples, edges held."""
    t_len = values.shape[-2]
    t = torch.arange(t_len, device=values.device).expand_as(valid)
    prev = torch.cummax(torch.where(valid, t, torch.full_like(t, -1)), -1).values
    nxt = torch.flip(torch.cummin(torch.flip(torch.where(valid, t, torch.full_like(t, t_len)), [-1]), -1).values,
                     [-1])
    has_prev, has_next = prev >= 0, nxt < t_len
    prev_c = torch.where(has_prev, prev, nxt).clamp(0, t_len - 1)
    next_c = torch.where(has_next, nxt, prev).clamp(0, t_len - 1)
    d = values.shape[-1]
    vp = torch.gather(values, -2, prev_c[..., None].expand(*prev_c.shape, d))
    vn = torch.gather(values, -2, next_c[..., None].expand(*next_c.shape, d))
    w = ((t - prev_c) / (next_c - prev_c).clamp_min(1)).to(values.dtype)[..., None]
    return torch.where(valid[..., None], values, vp + w * (vn - vp))


def nanmedian_torch(v: torch.Tensor) -> torch.Tensor:
    """numpy's nanmedian over the last axis (the mean of the two middle values for an even count; NaN if
    none), which torch.nanmedian is not (it takes the lower one). Filled with masked_fill, not full_like, which an
    ONNX export folds into a constant of the traced shape."""
    nan = torch.isnan(v)
    n = (~nan).sum(-1)
    s = torch.sort(v.masked_fill(nan, float("inf")), -1).values
    lo = torch.gather(s, -1, ((n - 1).clamp_min(0) // 2)[..., None])[..., 0]
    hi = torch.gather(s, -1, (n // 2).clamp_max(v.shape[-1] - 1)[..., None])[..., 0]
    return ((lo + hi) / 2).masked_fill(n == 0, float("nan"))


def normalize_2d_torch(kp: torch.Tensor, reliable: torch.Tensor, min_joints: int = 6
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`occlusion.normalize_2d` for (..., T, 17, 2) tensors (same centre, same scale)."""
    rel = reliable.bool()
    w = rel.to(kp.dtype)
    n_rel = rel.sum(-1)  # (..., T)
    mean_rel = (kp * w[..., None]).sum(-2) / n_rel.clamp_min(1)[..., None].to(kp.dtype)
    pelvis_ok = rel[..., 0]
    any_pelvis = pelvis_ok.any(-1, keepdim=True)
    centre = torch.where(any_pelvis[..., None], _fill_missing_torch(kp[..., 0, :], pelvis_ok),
                         _fill_missing_torch(mean_rel, n_rel > 0))
    d2 = ((kp - centre[..., None, :]) ** 2).sum(-1)
    rms = ((d2 * w).sum(-1) / n_rel.clamp_min(1).to(kp.dtype)).clamp_min(1e-24).sqrt()
    good = n_rel >= min_joints
    good = torch.where(good.any(-1, keepdim=True), good, n_rel > 0)
    scale = nanmedian_torch(torch.where(good, rms, torch.full_like(rms, float("nan"))))
    scale = torch.where(torch.isfinite(scale) & (scale > 1e-9), scale, torch.ones_like(scale))
    return (kp - centre[..., None, :]) / scale[..., None, None, None], centre, scale


def encode_torch(keypoints: torch.Tensor, confidence: torch.Tensor, enc: InputEncoding = InputEncoding()
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`encode` for tensors: (x, centre, scale, reliable); gradients flow to the keypoints (and, in
    ``soft`` mode, to the confidences)."""
    if enc.causal:
        raise ValueError("the causal input encoding has no torch version (the end-to-end model trains offline)")
    exists = torch.isfinite(keypoints).all(-1)
    kp = torch.where(exists[..., None], keypoints, torch.zeros_like(keypoints))
    conf = confidence.to(kp.dtype)
    conf = torch.where(exists & torch.isfinite(conf), conf.clamp(0.0, 1.0), torch.zeros_like(conf))
    reliable = exists if enc.mode == "unaware" else exists & (conf.detach() >= enc.threshold)
    if enc.flag_frames > 1 and enc.mode != "unaware":  # a 0/1 decision: no gradient to lose
        reliable = torch.as_tensor(vote(reliable.cpu().numpy(), exists.cpu().numpy(), enc), device=kp.device)
    norm, centre, scale = normalize_2d_torch(kp, reliable, enc.min_joints)
    if enc.confidence_frames > 1:  # average_confidence, differentiable in the confidences
        k = enc.confidence_frames

        def sums(v: torch.Tensor) -> torch.Tensor:  # (..., T, J) -> window sums, zero-padded at the ends
            v = F.pad(v.transpose(-1, -2), (k // 2, k // 2))
            return v.unfold(-1, k, 1).sum(-1).transpose(-1, -2)

        conf = torch.where(exists, sums(conf) / sums(exists.to(conf.dtype)).clamp_min(1.0), torch.zeros_like(conf))
    shown, third = _channels(enc, reliable, exists, conf, lambda m: m.to(kp.dtype))
    return torch.cat([norm * shown[..., None], third[..., None]], -1), centre, scale, reliable
