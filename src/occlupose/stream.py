"""The causal lifter fed one frame at a time, computing exactly what it computes over a whole sequence.

:func:`lifter.lift` on a sequence resamples it to the model's rate (50 fps) on a grid starting at the first
frame, encodes it (the causal encoding: pelvis held, scale a median over the last 128 model frames) and runs the
TCN. Doing that again over a sliding window for every new frame costs the encoding of the whole window and,
worse, gives a different answer: the TCN's two stride-2 layers make an output depend on where its frame falls
in the 4-frame stride grid, and a window that starts anywhere moves that grid (up to tens of millimetres at the
newest frame). :class:`CausalStream` keeps the sequence's own grid: each new frame adds the model frames that
fall before it (interpolated from the frame before, as the resampling does), encodes them from a running
state, and runs the TCN over the last receptive field with a start aligned to the grid. The result at each
model frame is the whole-sequence result (tested to 1e-5 m); at the input frame it is the model frame at or
just before it (at most 20 ms old: the whole-sequence resampling would interpolate towards the next one). With
the model's bone pull (``bone_test``), the lengths of every model frame's unpulled pose go into a running window
of ``encoding.causal_window`` frames, and the newest pose is pulled toward their median, as the whole sequence's
:func:`lifter.pull_bones` does with that window. A lifter along the viewing ray (``ray_frame``) given the
camera sees each model frame's 2D along the ray through that frame's causal centre and has its 3D turned back by
it, as :func:`lifter.encode_in_view` and :func:`lifter.lift` do over the sequence.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace

import numpy as np
import torch

from .camera import seen_along_rays
from .encoding import InputEncoding, _channels, _clean, average_confidence
from .lifter import drop_placeholders, focal_units, turn_by_ray
from .models import STRIDE_GRID  # windows start on multiples of this, as the whole sequence's grid does
from .skeleton import TWIN_MEAN, bone_lengths, scale_bones


def receptive_field(model, length: int = 512) -> int:
    """How many model frames (its own included) a causal model's output at a frame depends on, measured."""
    with torch.no_grad():
        x = torch.zeros(1, length, 17, 3)
        base = model(x)[1]
        x[:, 0] = 1.0
        changed = (model(x)[1] - base).abs().amax(dim=(0, 2, 3)) > 0
    return int(torch.nonzero(changed).max()) + 1


class _CausalEncoder:
    """:func:`encoding.encode` with a causal encoding, one model frame at a time (the same arithmetic)."""

    def __init__(self, enc: InputEncoding):
        self.enc = enc
        self.pelvis: np.ndarray | None = None  # held from the last frame it was reliable
        self.mean: np.ndarray | None = None  # the reliable joints' mean, held likewise
        self.scale: float | None = None  # the last good scale
        self.past: deque = deque(maxlen=enc.causal_window)  # (rms, reliable joints) of the last frames
        self.recent: deque = deque(maxlen=enc.confidence_frames)  # (C*, exists) of the last frames
        self.centre = np.zeros(2)  # the last frame's centre (pelvis held, else the reliable joints' mean held)

    def __call__(self, kp: np.ndarray, conf: np.ndarray) -> np.ndarray:
        """kp (17, 2) (NaN: none), conf (17,) -> (17, 3) float32 network input."""
        enc = self.enc
        kp, conf, exists = _clean(kp, conf)
        shown_conf = conf
        if enc.confidence_frames > 1:  # for the third channel, over the frames before (a causal encoding)
            self.recent.append((conf, exists))
            shown_conf = average_confidence(*(np.stack(v) for v in zip(*self.recent)), enc)[-1]
        rel = exists if enc.mode == "unaware" else exists & (conf >= enc.threshold)
        n = int(rel.sum())
        if rel[0]:
            self.pelvis = kp[0].copy()
        if n:
            self.mean = (kp * rel[:, None]).sum(0) / n
        centre = self.pelvis if self.pelvis is not None else (self.mean if self.mean is not None else np.zeros(2))
        self.centre = centre
        rms = float(np.sqrt((((kp - centre) ** 2).sum(-1) * rel).sum() / max(n, 1)))
        self.past.append((rms, n))
        scale = self._median(lambda k: k >= enc.min_joints)
        if not np.isfinite(scale):
            scale = self._median(lambda k: k > 0)
        if np.isfinite(scale) and scale > 1e-9:
            self.scale = scale
        else:
            scale = self.scale if self.scale is not None else 1.0
        shown, third = _channels(enc, rel, exists, shown_conf, lambda m: m.astype(np.float64))
        norm = (kp - centre) / scale * shown[:, None]
        return np.concatenate([norm, third[:, None]], -1).astype(np.float32)

    def _median(self, use) -> float:
        values = [r for r, k in self.past if use(k)]
        return float(np.median(values)) if values else float("nan")


class CausalStream:
    """One person's frames in, one pose per frame out, exactly as :func:`lifter.lift` over the whole
    sequence at the model's rate (see the module's docstring). ``receptive``: the model's receptive field in
    model frames (measured once per model with :func:`receptive_field`). ``camera``: (focal length, principal
    point x, y) in the keypoints' unit, as :func:`lifter.lift` takes it: a lifter along the viewing ray
    (:attr:`ModelConfig.ray_frame`) sees each frame's 2D along the ray through its causal centre and its 3D is
    turned back into the camera's frame; other lifters ignore it."""

    def __init__(self, model, receptive: int, device: str = "cpu", threshold: float | None = None,
                 camera: tuple[float, float, float] | None = None):
        if not (model.cfg.tcn.causal and model.cfg.encoding.causal):
            raise ValueError("a stream needs a causal lifter (model.tcn.causal and model.encoding.causal)")
        self.model, self.device = model.eval(), device
        self.threshold = model.cfg.encoding.threshold if threshold is None else float(threshold)
        enc = replace(model.cfg.encoding, threshold=self.threshold)
        self.encoder = _CausalEncoder(enc)
        # a ray-frame lifter with a camera: keypoints in focal-length units about the principal point; the
        # first encoder only finds each frame's centre, the second encodes the 2D seen along its ray
        self.camera = tuple(map(float, camera)) if model.cfg.ray_frame and camera is not None else None
        self.seen_encoder = _CausalEncoder(enc) if self.camera is not None and model.cfg.ray_input else None
        self.centres: deque = deque()  # (2,) the centre of each model frame in self.inputs
        self.dt = 1.0 / model.cfg.fps
        # the longest window: a receptive field from a grid-aligned start (more frames are held during a push
        # that makes several model frames, so that each of them gets its whole receptive field)
        self.span = receptive + STRIDE_GRID - 1
        self.inputs: deque = deque()  # encoded model frames, the last span of them between pushes
        self.lengths: deque = deque(maxlen=model.cfg.encoding.causal_window)  # (16,) unpulled bone lengths
        self.t0: float | None = None
        self.count = 0  # model frames made so far
        self.prev: tuple | None = None  # (time, kp, conf, reliable) of the last input frame
        self.receptive = receptive
        self.pose: np.ndarray | None = None

    def _prepare(self, kp: np.ndarray, conf: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """lift's per-frame rules: C* NaN -> 0, reliable = C* >= b, a frame whose reliable keypoints sit on one
        point (a placeholder) or with none holds no guesses."""
        kp = np.asarray(kp, np.float64)
        conf = np.where(np.isfinite(conf), np.asarray(conf, np.float64), 0.0)
        rel = conf >= self.threshold
        if not np.all(np.isfinite(kp[rel])):
            raise ValueError("reliable keypoints contain NaN or infinite values")
        rel = drop_placeholders(kp[None], rel[None])[0]
        if not rel.any():
            conf = np.zeros_like(conf)
            kp = np.full_like(kp, np.nan)
        else:
            kp = np.where(np.isfinite(kp), kp, np.nan)
        return kp, conf, rel

    def push(self, time: float, keypoints: np.ndarray, confidence: np.ndarray) -> np.ndarray:
        """The frame at ``time`` s (increasing): keypoints (17, 2) any unit (NaN: none), C* (17,) -> the pose
        (17, 3) metres, root-relative, at the model frame at or before ``time``."""
        kp, conf, rel = self._prepare(keypoints, confidence)
        if self.camera is not None:
            kp = focal_units(kp, self.camera)
        if self.prev is not None and time <= self.prev[0]:
            raise ValueError(f"frame times must increase ({time} after {self.prev[0]})")
        if self.t0 is None:
            self.t0 = float(time)
        fresh = 0
        while self.t0 + self.count * self.dt <= time + 1e-6:
            g = self.t0 + self.count * self.dt
            if self.prev is None or g >= time - 1e-9:
                m_kp, m_conf = kp, conf
            else:  # between the previous frame and this one, as lift's resampling interpolates
                t_a, kp_a, conf_a, rel_a = self.prev
                w = float(np.clip((g - t_a) / max(time - t_a, 1e-12), 0.0, 1.0))
                ex_a, ex_b = np.isfinite(kp_a).all(-1), np.isfinite(kp).all(-1)
                pos = (1 - w) * np.where(ex_a[:, None], kp_a, 0.0) + w * np.where(ex_b[:, None], kp, 0.0)
                exists = (1 - w) * ex_a + w * ex_b > 0.999
                m_kp = np.where(exists[:, None], pos, np.nan)
                reliable = (1 - w) * rel_a + w * rel > 0.999
                c = (1 - w) * conf_a + w * conf
                m_conf = np.where(reliable, np.maximum(c, self.threshold),
                                  np.minimum(c, np.nextafter(self.threshold, 0)))
            self.inputs.append(self._encode(m_kp, m_conf))
            self.count += 1
            fresh += 1
        self.prev = (float(time), kp, conf, rel)
        if fresh:
            first = self.count - fresh  # every new model frame's pose, each from a whole receptive field
            start = max(0, (first - self.receptive + 1) // STRIDE_GRID * STRIDE_GRID)
            window = list(self.inputs)[start - (self.count - len(self.inputs)):]
            x = torch.from_numpy(np.stack(window)[None]).to(self.device)
            with torch.no_grad():
                poses = self.model.infer(x, pull=False)[0, -fresh:].cpu().numpy().astype(np.float64)
            if self.camera is not None:  # from the frame of each model frame's ray into the camera's
                poses = turn_by_ray(poses, np.stack(list(self.centres)[-fresh:]), True, to_camera=True)
            while len(self.inputs) > self.span:
                self.inputs.popleft()
                if self.centres:
                    self.centres.popleft()
            lengths = bone_lengths(poses)  # (fresh, 16)
            self.lengths.extend(lengths)
            self.pose = poses[-1]
            if self.model.cfg.bones_pulled:
                target = np.median(np.stack(self.lengths), 0) @ TWIN_MEAN
                scale = (target / np.maximum(lengths[-1], 1e-6)) ** self.model.cfg.bone_test
                self.pose = scale_bones(self.pose, scale)
        return self.pose.astype(np.float32)

    def _encode(self, kp: np.ndarray, conf: np.ndarray) -> np.ndarray:
        """One model frame's network input (17, 3), as :func:`lifter.encode_in_view` gives it in a sequence."""
        x = self.encoder(kp, conf)
        if self.camera is None:
            return x
        centre = self.encoder.centre.copy()
        self.centres.append(centre)
        if self.seen_encoder is None:
            return x
        return self.seen_encoder(seen_along_rays(kp[None], centre[None])[0], conf)
