"""Occlusion-labelled training data from 3D mocap (paper Sec. 4.2), drawn on the fly.

For each 3D window: a random virtual camera (Sec. 4.2 angles), Cylinder Man self-occlusion labels, random
virtual occluders moving over the body, and a *detector-like* 2D input. Real 2D detectors are not just noisy:
they still guess an occluded joint, at a wrong, drifting place (often the mirrored left/right joint) with a
lower but noisy confidence, and sometimes give a visible joint a low score. The model, per window and joint:

* visible joints: position = truth + AR(1) jitter (``visible_sigma``, correlation ``visible_corr`` per frame);
  confidence ~ N(``visible_conf``, ``conf_std``) with a per-joint bias, and with probability ``miss_prob`` per
  frame a confidence drawn as for an occluded joint (a false negative);
* occluded joints: with probability ``mirror_prob`` the detector answers at the mirrored twin joint, else at
  truth + a per-episode offset (``occluded_offset_sigma``) + a random-walk drift (``occluded_drift_sigma`` per
  frame); confidence ~ N(``occluded_conf``, ``conf_std``) with bias, so some exceed the threshold
  (confidence mistakes that the flow check of Eq. 2 must catch);
* then Eq. 2: the optical flow ``o`` at a keypoint is the true motion of the body surface there (the joint's
  true motion, plus ``flow_noise``); ``d`` is the detected keypoint's motion. Drifting guesses disagree.

Distances are metres at the subject (with perspective they are scaled by focal / depth).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .camera import VirtualViewConfig, sample_virtual_rotations, studio_rotations
from .cylinder import CylinderConfig, visibility
from .occlusion import OcclusionFilterConfig, displacements, flow_consistency
from .skeleton import BONES, CONVENTION_JOINTS, FLIP_PERMUTATION, SYMMETRIC_BONES, move_convention_joints, scale_bones
from .validate import at_least, ordered, positive, within


@dataclass(frozen=True)
class DetectorConfig:
    visible_sigma: float = 0.012
    visible_corr: float = 0.7
    occluded_offset_sigma: float = 0.10
    occluded_drift_sigma: float = 0.006
    mirror_prob: float = 0.2
    visible_conf: float = 0.85
    occluded_conf: float = 0.2
    conf_std: float = 0.1
    conf_bias_std: float = 0.08
    miss_prob: float = 0.02
    flow_noise: float = 0.004
    #: per window and left/right pair, the chance that the detector swaps the two visible joints for a stretch
    #: of ``swap_frames`` frames (real detectors do, confidently: a heavy tail plain jitter does not have)
    swap_prob: float = 0.0
    swap_frames: tuple[int, int] = (5, 25)
    #: joints hidden by an object (the virtual occluder), where the guesses differ from self-occlusion: their
    #: offset sigma (m per coordinate) and mean confidence; None: as for self-occlusion
    #: (``occluded_offset_sigma``, ``occluded_conf``)
    object_offset_sigma: float | None = None
    object_conf: float | None = None

    def __post_init__(self) -> None:
        at_least(self, 0.0, "visible_sigma", "occluded_offset_sigma", "occluded_drift_sigma", "conf_std",
                 "conf_bias_std", "flow_noise")
        if self.object_offset_sigma is not None:
            at_least(self, 0.0, "object_offset_sigma")
        if self.object_conf is not None:
            within(self, 0.0, 1.0, "object_conf")
        within(self, 0.0, 0.999, "visible_corr")
        within(self, 0.0, 1.0, "mirror_prob", "visible_conf", "occluded_conf", "miss_prob", "swap_prob")
        if not 1 <= self.swap_frames[0] <= self.swap_frames[1]:
            raise ValueError(f"detector swap_frames must be 1 <= low <= high, got {self.swap_frames}")


@dataclass(frozen=True)
class OccluderConfig:
    """Virtual occluders (objects, other people): a box crossing the body for 0.5-3 s."""

    prob: float = 0.5
    min_duration_s: float = 0.5
    max_duration_s: float = 3.0
    min_width: float = 0.2
    max_width: float = 0.6
    min_height: float = 0.3
    max_height: float = 1.0

    def __post_init__(self) -> None:
        within(self, 0.0, 1.0, "prob")
        positive(self, "min_duration_s", "min_width", "min_height")
        for low, high in (("min_duration_s", "max_duration_s"), ("min_width", "max_width"),
                          ("min_height", "max_height")):
            ordered(self, low, high)


@dataclass(frozen=True)
class AugmentConfig:
    views: VirtualViewConfig = field(default_factory=VirtualViewConfig)
    cylinder: CylinderConfig = field(default_factory=CylinderConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    occluder: OccluderConfig = field(default_factory=OccluderConfig)
    #: fraction of windows seen through a pinhole camera instead of the paper's orthographic one
    perspective_prob: float = 0.5
    min_distance: float = 3.0
    max_distance: float = 8.0
    fps: float = 50.0
    #: False: no virtual views (the "no data augmentation" ablation). Each window is then seen by one of a few
    #: fixed studio cameras, like Human3.6M's four: azimuths about the vertical (0 = the level camera looking
    #: along world +y) and one downward tilt
    virtual_views: bool = True
    fixed_azimuths_deg: tuple[float, ...] = (45.0, 135.0, 225.0, 315.0)
    fixed_tilt: float = 0.05 * np.pi
    #: fraction of windows given the clean projected 2D with confidence 1 for every joint (what ``evaluate
    #: --clean`` feeds), so that perfect input is not outside the training distribution
    clean_prob: float = 0.0
    #: body proportions per window: each bone (a left bone and its right twin alike) made exp(N(0, std)) times
    #: as long, the draw clipped to 2 std, so that the lifter sees more bodies than the training file's few
    #: skeletons (its 11 training subjects share two); 0: the bodies as recorded
    bone_scale_std: float = 0.0
    #: where the thorax, neck and head sit is a convention that differs between skeletons and 2D models (up to
    #: a third of the trunk: docs/results.md, "Where the thorax, neck and head are"): per window, each of the
    #: three is moved N(0, std) trunk lengths along the body's up and forward axes, in the input and the
    #: target alike, so that the lifter reads them from its input; 0: as recorded
    convention_std: float = 0.0
    #: a bound, not a recipe: the detector sees the hidden joints as it sees the visible ones (jittered truth,
    #: visible confidences), while ``occluded`` still marks them for scoring; a lifter trained and scored so
    #: shows what knowing the hidden joints' 2D would be worth (configs/extra/oracle_hidden_bound.yaml)
    oracle_hidden: bool = False
    #: a bound, not a recipe: the detector's positions as usual, but its confidence replaced by the truth (1 for
    #: a visible joint, 0 for a hidden one), so that a lifter trained and scored so shows what an exact
    #: occlusion flag would be worth over C* (configs/extra/oracle_flags_bound.yaml)
    oracle_flags: bool = False

    def __post_init__(self) -> None:
        within(self, 0.0, 1.0, "perspective_prob", "clean_prob")
        within(self, 0.0, 1.0, "bone_scale_std", "convention_std")
        positive(self, "min_distance", "fps")
        ordered(self, "min_distance", "max_distance")
        if not self.virtual_views and not self.fixed_azimuths_deg:
            raise ValueError("AugmentConfig.fixed_azimuths_deg must name at least one camera when virtual_views "
                             "is off")


@dataclass
class Batch:
    """One batch of B windows of T frames; 2D in metres at the subject (or focal-1 image units)."""

    poses_3d: np.ndarray  # (B, T, 17, 3) camera frame, root-relative, metres
    gt_2d: np.ndarray  # (B, T, 17, 2) clean projection
    det_2d: np.ndarray  # (B, T, 17, 2) detector-like guesses
    conf: np.ndarray  # (B, T, 17) confidence after Eq. 2
    occluded: np.ndarray  # (B, T, 17) bool ground truth (self-occlusion or virtual occluder)
    reliable: np.ndarray  # (B, T, 17) bool, conf >= threshold
    #: (B, T, 3) the root's position in the camera frame, metres, for perspective windows (NaN for orthographic)
    root: np.ndarray | None = None


def body_scales(rng: np.random.Generator, b: int, std: float) -> np.ndarray:
    """(b, 16) bone scale factors, log-normal with ``std``, clipped to 2 std, equal for left/right twins."""
    log = np.clip(rng.normal(0.0, std, (b, len(BONES))), -2 * std, 2 * std)
    log[:, SYMMETRIC_BONES[:, 1]] = log[:, SYMMETRIC_BONES[:, 0]]
    return np.exp(log)


def box_size(points_2d: np.ndarray) -> np.ndarray:
    """(..., 17, 2) -> (...,) the larger side of the joints' bounding box (x and y reduced apart: a reduction
    over the joint axis with a trailing axis of 2 is several times slower)."""
    x, y = points_2d[..., 0], points_2d[..., 1]
    return np.maximum(x.max(-1) - x.min(-1), y.max(-1) - y.min(-1))


def swap_mask(rng: np.random.Generator, b: int, t: int, det: DetectorConfig) -> np.ndarray:
    """(B, T, 17) where the detector swaps a joint with its left/right twin: per window and pair, with
    probability ``swap_prob``, one stretch of ``swap_frames`` frames (both joints of the pair swap together)."""
    twin = FLIP_PERMUTATION
    pair_of = np.minimum(np.arange(17), twin)  # one id per left/right pair (the smaller joint index)
    hit = rng.random((b, 17)) < det.swap_prob
    start = rng.integers(0, max(t, 1), (b, 17))
    length = rng.integers(det.swap_frames[0], det.swap_frames[1] + 1, (b, 17))
    frames = np.arange(t)[None, :, None]
    on = hit[:, None] & (frames >= start[:, None]) & (frames < (start + length)[:, None])  # (B, T, 17) per id
    return on[:, :, pair_of] & (twin != np.arange(17))[None, None]


def _ar1(rng: np.random.Generator, shape: tuple, corr: float, sigma: float) -> np.ndarray:
    """Stationary AR(1) noise along axis 1 (time) of ``shape`` = (B, T, ...), std ``sigma``.

    ``x_t = sqrt(1 - c^2) sum_k c^k e_(t-k)``, the kernel truncated where c^k < 1e-3 (a loop over lags only).
    """
    if corr <= 0:
        return sigma * rng.standard_normal(shape)
    lags = int(np.ceil(np.log(1e-3) / np.log(corr))) if corr < 1 else 1
    b, t = shape[:2]
    eps = rng.standard_normal((b, t + lags - 1, *shape[2:])).astype(np.float32)  # float32: 3x faster sums
    x = np.zeros(shape, np.float32)
    for k in range(lags):
        x += np.float32(corr**k) * eps[:, lags - 1 - k : lags - 1 - k + t]
    return (sigma * np.sqrt(1 - corr**2)) * x.astype(np.float64)


def virtual_occluder_mask(rng: np.random.Generator, gt_2d: np.ndarray, unit: np.ndarray, cfg: OccluderConfig,
                          fps: float) -> np.ndarray:
    """(B, T, 17) bool: joints covered by a box moving horizontally across the body for 0.5-3 s."""
    b, t = gt_2d.shape[:2]
    active = rng.random(b) < cfg.prob
    dur = rng.uniform(cfg.min_duration_s, cfg.max_duration_s, b) * fps
    start = rng.uniform(-0.3 * dur, np.maximum(t - 0.7 * dur, 0))
    w = rng.uniform(cfg.min_width, cfg.max_width, b) * unit
    h = rng.uniform(cfg.min_height, cfg.max_height, b) * unit
    cy = rng.uniform(-0.6, 0.6, b) * unit
    direction = rng.choice([-1.0, 1.0], b)
    frames = np.arange(t)[None, :]
    phase = (frames - start[:, None]) / np.maximum(dur[:, None], 1)  # 0..1 while crossing
    root = gt_2d[:, :, 0]  # (B, T, 2)
    cx = root[..., 0] + direction[:, None] * (phase - 0.5) * 1.2 * unit[:, None]
    on = active[:, None] & (phase >= 0) & (phase <= 1)
    dx = np.abs(gt_2d[..., 0] - cx[..., None]) <= w[:, None, None] / 2
    dy = np.abs(gt_2d[..., 1] - root[..., 1:2] - cy[:, None, None]) <= h[:, None, None] / 2
    return on[..., None] & dx & dy


class Augmenter:
    """Turns (B, T, 17, 3) world windows (Z-up) into occlusion-labelled, detector-like training batches.

    ``occlusion``: the Eq. 2 sigma and threshold b (those of the model's input encoding)."""

    def __init__(self, cfg: AugmentConfig = AugmentConfig(),
                 occlusion: OcclusionFilterConfig = OcclusionFilterConfig()):
        self.cfg = cfg
        self.occlusion = occlusion

    def cameras(self, rng: np.random.Generator, b: int) -> np.ndarray:
        if self.cfg.virtual_views:
            return sample_virtual_rotations(b, rng, self.cfg.views)
        fixed = studio_rotations(np.radians(self.cfg.fixed_azimuths_deg), self.cfg.fixed_tilt)
        return fixed[rng.integers(0, len(fixed), b)]

    def __call__(self, rng: np.random.Generator, world: np.ndarray, rotations: np.ndarray | None = None,
                 perspective: np.ndarray | None = None) -> Batch:
        cfg, det = self.cfg, self.cfg.detector
        world = np.asarray(world, dtype=np.float64)
        b, t = world.shape[:2]
        if cfg.bone_scale_std > 0:  # drawn only when asked for, so other configs keep their random stream
            world = scale_bones(world, body_scales(rng, b, cfg.bone_scale_std)[:, None])
        if cfg.convention_std > 0:  # likewise
            shifts = rng.normal(0.0, cfg.convention_std, (b, 1, len(CONVENTION_JOINTS), 2))
            world = move_convention_joints(world, shifts)
        rot = self.cameras(rng, b) if rotations is None else rotations
        persp = rng.random(b) < cfg.perspective_prob if perspective is None else np.asarray(perspective)
        # camera frame with the window's trajectory (needed for perspective), root of frame 0 at the origin
        cam = (world - world[:, :1, :1, :]) @ np.swapaxes(rot, -1, -2)[:, None]
        root_rel = cam - cam[:, :, :1]
        dist = rng.uniform(cfg.min_distance, cfg.max_distance, b)
        dist = dist + np.maximum(0.0, cfg.min_distance - (dist[:, None] + cam[:, :, 0, 2]).min(1))
        cam_abs = np.where(persp[:, None, None, None], cam + np.array([0, 0, 1.0]) * dist[:, None, None, None],
                           root_rel)
        vis = np.empty((b, t, 17), dtype=bool)
        if (~persp).any():
            vis[~persp] = visibility(root_rel[~persp].astype(np.float32), cfg.cylinder)
        if persp.any():
            vis[persp] = visibility(cam_abs[persp].astype(np.float32), cfg.cylinder, perspective=True)
        z = np.where(persp[:, None, None], cam_abs[..., 2], 1.0)  # (B, T, 17)
        gt_2d = cam_abs[..., :2] / z[..., None]
        # metres at the subject -> 2D units, per window (depth of the root over the window)
        unit = np.where(persp, 1.0 / np.where(persp, dist, 1.0), 1.0)
        by_object = virtual_occluder_mask(rng, gt_2d, unit, cfg.occluder, cfg.fps)
        occluded = ~vis | by_object
        hidden = np.zeros_like(occluded) if cfg.oracle_hidden else occluded  # what the detector gets wrong

        u = unit[:, None, None, None]
        jitter = _ar1(rng, (b, t, 17, 2), det.visible_corr, det.visible_sigma) * u
        mirrored = gt_2d[:, :, FLIP_PERMUTATION]
        offset = rng.normal(0, det.occluded_offset_sigma, (b, 1, 17, 2)) * u
        drift = np.cumsum(rng.normal(0, det.occluded_drift_sigma, (b, t, 17, 2)), axis=1) * u
        use_mirror = rng.random((b, 1, 17)) < det.mirror_prob
        if det.object_offset_sigma is not None:  # drawn only when asked for: other configs keep their stream
            object_offset = rng.normal(0, det.object_offset_sigma, (b, 1, 17, 2)) * u
            offset = np.where(by_object[..., None] & vis[..., None], object_offset, offset)
        wrong = np.where(use_mirror[..., None], mirrored + jitter, gt_2d + offset + drift)
        det_2d = np.where(hidden[..., None], wrong, gt_2d + jitter)
        if det.swap_prob > 0:  # drawn only when asked for, so other configs keep their random stream
            det_2d = np.where(swap_mask(rng, b, t, det)[..., None], det_2d[:, :, FLIP_PERMUTATION], det_2d)

        bias = rng.normal(0, det.conf_bias_std, (b, 1, 17))
        missed = rng.random((b, t, 17)) < det.miss_prob
        low = hidden | missed
        mean = np.where(low, det.occluded_conf, det.visible_conf) + bias
        if det.object_conf is not None:
            mean = np.where(by_object & vis & hidden, det.object_conf + bias, mean)
        conf = np.clip(mean + rng.normal(0, det.conf_std, (b, t, 17)), 0.0, 1.0)

        flow = displacements(gt_2d) + rng.normal(0, det.flow_noise, (b, t, 17, 2)) * u
        box = box_size(gt_2d)  # (B, T) person box size
        conf = flow_consistency(conf, flow, displacements(det_2d), box, self.occlusion.sigma)
        if cfg.oracle_flags:
            conf = np.where(occluded, 0.0, 1.0)
        if cfg.clean_prob > 0:  # drawn only when asked for, so other configs keep their random stream
            clean = rng.random(b) < cfg.clean_prob
            det_2d = np.where(clean[:, None, None, None], gt_2d, det_2d)
            conf = np.where(clean[:, None, None], 1.0, conf)
        return Batch(
            poses_3d=root_rel.astype(np.float32),
            gt_2d=gt_2d.astype(np.float32),
            det_2d=det_2d.astype(np.float32),
            conf=conf.astype(np.float32),
            occluded=occluded,
            reliable=conf >= self.occlusion.threshold,
            root=np.where(persp[:, None, None], cam_abs[:, :, 0], np.nan).astype(np.float32),
        )
