"""Typed configuration: dataclasses with the paper's values as defaults, read from and written to YAML or
TOML. Unknown keys are an error, so a typo in a config file cannot silently fall back to a default."""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .augment import AugmentConfig
from .encoding import InputEncoding
from .losses import LossWeights
from .models import TCNConfig
from .validate import at_least, one_of, positive, within


@dataclass(frozen=True)
class ModelConfig:
    tcn: TCNConfig = field(default_factory=TCNConfig)
    #: smooth the 2D with a 2D TCN before lifting (Table 2, "2D TCN")
    use_2d_tcn: bool = True
    #: how keypoints and C* become the network's input (mode "paper": missing joints zeroed and flagged, Table 2
    #: "Occ Aware"; "unaware": every guess as reliable; "soft": every guess kept with C* beside it; "gated": the
    #: paper's drop with C* beside the kept joints), with b, sigma
    encoding: InputEncoding = field(default_factory=InputEncoding)
    discriminator_channels: int = 64
    #: frame rate the model works at; inputs are resampled to it
    fps: float = 50.0
    #: at inference, average the 3D of the input and of its mirror image (left and right swapped)
    flip_test: bool = False
    #: at inference, average the 3D over the 4 places the sequence can start in the TCN's stride grid (its two
    #: stride-2 layers leave a 4-frame ripple in the 3D: on HDM05's bodies, never trained on, the shipped
    #: model's velocity error falls by a fifth); no effect on a causal model, which is not given it
    shift_test: bool = False
    #: at inference, average the 3D of this many lifters of the same design trained apart (other seeds), packaged
    #: into one checkpoint by ``tools/ship_model.py --ensemble``: their errors differ, so the mean is better than
    #: either (two on the validation subjects: MPJPE -2.4 %, docs/results.md "Two lifters averaged"); a training
    #: run trains one (1)
    ensemble: int = 1
    #: at inference, pull each bone's length this share of the way (in log scale: 0.5 = halfway between the two
    #: ratios) toward the sequence's own median length, a left bone and its right twin sharing one: one body for
    #: the whole sequence. A causal model, which has no whole sequence, pulls toward the median over its last
    #: ``encoding.causal_window`` frames (no output depends on a later frame). 0 = off; both shipped models 0.5,
    #: chosen on validation (docs/results.md, "One body per sequence" and "... for the causal lifter")
    bone_test: float = 0.0
    #: the lifter's 3D is the pose as seen along the pelvis's viewing ray, not along the optical axis: trained on
    #: targets turned by :func:`occlupose.camera.ray_rotations` of the 2D centre (perspective windows), and turned
    #: back into the camera frame where the camera is known (a pinhole view: the centre in focal-length units), so
    #: that a person away from the image centre is not lifted as if straight ahead. False: the camera frame as is
    ray_frame: bool = False
    #: with ``ray_frame``: the pinhole 2D, too, as a camera turned onto the pelvis's ray would see it (the image
    #: plane's slant off the axis undone), so that input and target are both the view straight ahead
    ray_input: bool = False

    def __post_init__(self) -> None:
        at_least(self, 1, "discriminator_channels", "ensemble", integer=True)
        positive(self, "fps")
        within(self, 0.0, 1.0, "bone_test")
        if self.ray_input and not self.ray_frame:
            raise ValueError("ModelConfig.ray_input needs ray_frame: the 2D seen along the ray lifts to the 3D seen "
                             "along it")

    @property
    def grid_averaged(self) -> bool:
        """``shift_test`` where it applies: a causal model has no ripple to average and is not given it."""
        return self.shift_test and not self.tcn.causal

    @property
    def bones_pulled(self) -> bool:
        """``bone_test`` is on (over the sequence, or a causal model's last frames)."""
        return self.bone_test > 0


POSE_REGULARIZER = ("off", "2d_only", "all")
PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    name: str = "occlupose"
    seed: int = 0
    steps: int = 130_000
    batch_size: int = 128
    window: int = 128
    lr: float = 1e-3
    lr_final: float = 1e-4
    #: fraction of the run at lr, then lr_final (paper: 100k of 130k iterations)
    lr_drop_at: float = 100_000 / 130_000
    weights: LossWeights = field(default_factory=LossWeights)
    use_symmetry: bool = True
    use_adversarial: bool = True
    #: the Cylinder regulariser Eq. 8: "2d_only" applies it where the paper's (1 - zeta) does, to windows without
    #: 3D (so a fully supervised run never uses it); "all" to every window; "off" never
    pose_regularizer: str = "2d_only"
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    #: mocap file (None: $OCCLUPOSE_DATA, else the copy bundled in the package)
    data: str | None = None
    #: more mocap whose training clips are added: bundled names ("cmu_extra", "hdm05") or paths
    extra_data: tuple[str, ...] = ()
    #: a lifter checkpoint (file, or a packaged model's name: "default") whose weights this run starts from
    #: instead of random ones: fine-tuning, e.g. on more data. Its model config must be this run's (only the
    #: test-time settings flip_test, shift_test and encoding.confidence_frames may differ); the optimiser
    #: starts afresh at ``lr``
    init: str | None = None
    #: which lifter of an ensemble ``init`` (the shipped pair) this run starts from: 0 the first, 1 the second
    init_member: int = 0
    #: subjects whose clips keep their 3D; None = all training subjects (fully supervised). The other
    #: training subjects become 2D-only clips (semi-supervised, Eq. 5 + Eq. 8).
    supervised_subjects: tuple[str, ...] | None = None
    #: training subjects to use at all; None = every training subject of the file
    subjects: tuple[str, ...] | None = None
    log_every: int = 50
    checkpoint_every: int = 1000
    eval_views: int = 2
    threads: int = 0  # 0: torch's default
    #: processes that build (augment) batches ahead of the training step; 0: in the training process. The
    #: batches are the same either way (each step's random stream depends only on seed and step)
    workers: int = 0
    #: data echoing (Choi et al. 2019): each augmented batch trains this many consecutive steps, every second
    #: time mirrored (left and right swapped, x negated: the same motion by a mirror-image body), so a run bound
    #: by its CPU augmentation makes ``echo`` times the steps for the same augmentation work; 1: off
    echo: int = 1
    #: mirror every second echoed copy (off: the same batch repeated; an ablation)
    echo_mirror: bool = True
    #: what the network's forward pass runs in: "fp32", or "bf16" (torch.autocast to bfloat16; the losses, the
    #: gradients' weights and the optimiser stay float32) for a cheaper step on a GPU with bfloat16 units (an
    #: H100); on a CPU without them it is slower
    precision: str = "fp32"

    def __post_init__(self) -> None:
        at_least(self, 1, "steps", "batch_size", "window", "log_every", "checkpoint_every", "eval_views", "echo",
                 integer=True)
        at_least(self, 0, "threads", "seed", "workers", "init_member", integer=True)
        positive(self, "lr", "lr_final")
        within(self, 0.0, 1.0, "lr_drop_at")
        one_of(self, "precision", PRECISIONS)
        one_of(self, "pose_regularizer", POSE_REGULARIZER)


def _convert(tp, value, where: str):
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ValueError(f"{where}: expected a mapping for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is not type(None):
                return _convert(a, value, where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"{where}: expected a list, got {value!r}")
        return tuple(value)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if tp is bool and isinstance(value, bool):
        return value
    if tp is str and isinstance(value, str):
        return value
    raise ValueError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")


def _migrate(cls, data: dict) -> dict:
    """Configs written before the input encoding had its own section (checkpoints keep their config):
    ``model.occlusion_aware`` became ``model.encoding.mode`` and ``augment.filter`` its threshold and sigma;
    ``use_pose_regularizer`` + ``regularize_supervised`` became the one switch ``pose_regularizer``."""
    data = dict(data)
    if cls is ModelConfig and "occlusion_aware" in data:
        aware = data.pop("occlusion_aware")
        data.setdefault("encoding", {})
        data["encoding"] = {"mode": "paper" if aware else "unaware", **data["encoding"]}
    if cls is TrainConfig and data.get("pose_regularizer") is False:  # YAML 1.1 reads a bare `off` as false
        data["pose_regularizer"] = "off"
    if cls is TrainConfig and ("use_pose_regularizer" in data or "regularize_supervised" in data):
        use, everywhere = data.pop("use_pose_regularizer", True), data.pop("regularize_supervised", False)
        data.setdefault("pose_regularizer", "off" if not use else "all" if everywhere else "2d_only")
    if cls is TrainConfig and isinstance(data.get("augment"), dict) and "filter" in data["augment"]:
        data["augment"] = dict(data["augment"])
        old = data["augment"].pop("filter") or {}
        model = dict(data.get("model") or {})
        enc = dict(model.get("encoding") or {})
        for k in ("threshold", "sigma"):
            if k in old:
                enc.setdefault(k, old[k])
        model["encoding"] = enc
        data["model"] = model
    return data


def from_dict(cls, data: dict, where: str = "config"):
    """Build dataclass ``cls`` from nested dicts, checking names and types."""
    data = _migrate(cls, data)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)} for {cls.__name__}")
    kwargs = {k: _convert(hints[k], v, f"{where}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def to_dict(cfg) -> dict:
    def clean(v):
        if isinstance(v, tuple):
            return [clean(x) for x in v]
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        return v

    return clean(dataclasses.asdict(cfg))


def load_config(path: str | os.PathLike, cls=TrainConfig):
    """Read a YAML (.yaml/.yml) or TOML (.toml) file into ``cls``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such config file")
    text = path.read_text()
    try:
        if path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            data = yaml.safe_load(text) or {}
    except Exception as exc:
        raise ValueError(f"{path}: cannot parse ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the top level must be a mapping")
    return from_dict(cls, _with_base(path, data), str(path))


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _with_base(path: Path, data: dict, seen: tuple[Path, ...] = ()) -> dict:
    """``base: other.yaml`` (relative to the file) is read first and the file's keys override it, section by
    section: rows of an ablation state only what they change."""
    if "base" not in data:
        return data
    data = dict(data)
    base_path = (path.parent / str(data.pop("base"))).resolve()
    if base_path in seen or base_path == path.resolve():
        raise ValueError(f"{path}: its base configs form a loop")
    if not base_path.is_file():
        raise FileNotFoundError(f"{path}: base config {base_path} does not exist")
    try:
        base = yaml.safe_load(base_path.read_text()) or {}
    except Exception as exc:
        raise ValueError(f"{base_path}: cannot parse ({exc})") from exc
    if not isinstance(base, dict):
        raise ValueError(f"{base_path}: the top level must be a mapping")
    return _merge(_with_base(base_path, base, (*seen, path.resolve())), data)


def save_config(cfg, path: str | os.PathLike) -> None:
    path = Path(path)
    if path.suffix == ".toml":
        raise ValueError("writing TOML is not supported; use .yaml")
    path.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
