"""Evaluation on the test subjects: synthetic detector-like inputs at fixed seeds, and clean 2D.

Each test clip is seen from ``views`` virtual cameras drawn from a seed that depends only on the clip's
index and the view, and the test inputs always come from the default data generator (``EVAL_AUGMENT``), never
from the evaluated model's training config: every model is scored on identical 2D. Only the Eq. 2 flow check
uses the model's own sigma and b (its input encoding), as ``run`` does. Errors are reported
overall, per clip, per action and on the occluded joints alone (Cylinder Man self-occlusion or a virtual
occluder).
"""

from __future__ import annotations

import numpy as np
import torch

from .augment import AugmentConfig, Augmenter
from .data import Mocap
from .lifter import PoseLifter, lift_in_view
from .metrics import evaluate_sequences
from .occlusion import OcclusionFilterConfig

EVAL_SEED = 20191027  # ICCV 2019
#: the test-input generator: virtual views, half perspective, virtual occluders, the default detector model
EVAL_AUGMENT = AugmentConfig()


def test_inputs(mocap: Mocap, keys: list[str], views: int, aug_cfg: AugmentConfig, seed: int = EVAL_SEED,
                occlusion: OcclusionFilterConfig = OcclusionFilterConfig()):
    """Yield (name, batch of one whole clip) for every clip and view, deterministically. ``occlusion``: the
    Eq. 2 sigma of the flow check (it changes C*, not the 2D) and b."""
    aug = Augmenter(aug_cfg, occlusion)
    for ci, key in enumerate(keys):
        for v in range(views):
            rng = np.random.default_rng([seed, ci, v])
            yield f"{key}#v{v}", aug(rng, mocap.clips[key][None])


@torch.no_grad()
def evaluate_model(model: PoseLifter, mocap: Mocap, aug_cfg: AugmentConfig = EVAL_AUGMENT, split: str = "test",
                   views: int = 2, clean: bool = False, device: str = "cpu", seed: int = EVAL_SEED,
                   keys: list[str] | None = None) -> dict[str, dict[str, float]]:
    """MPJPE / P-MPJPE / N-MPJPE / velocity error (mm) per clip-view and overall ("ALL").

    ``clean``: feed the exact projected 2D with every joint reliable (upper bound, no detector errors).
    """
    model.eval()
    keys = mocap.keys(split) if keys is None else keys
    preds, gts, masks, groups = {}, {}, {}, {}
    for name, batch in test_inputs(mocap, keys, views, aug_cfg, seed, model.cfg.encoding.filter):
        kp = batch.gt_2d if clean else batch.det_2d
        conf = np.ones_like(batch.conf) if clean else batch.conf
        # the test inputs' pinhole views are in focal-length units about the principal point
        preds[name] = lift_in_view(model, kp, conf, np.isfinite(batch.root[:, 0, 0]), device)[0]
        gts[name] = batch.poses_3d[0]
        masks[name] = batch.occluded[0]
        groups[name] = action_of(mocap, name.split("#", 1)[0])
    return evaluate_sequences(preds, gts, masks, groups=groups)


def action_of(mocap: Mocap, key: str) -> str:
    """The action a clip shows: its description's first words for CMU clips ("basketball", "walk"),
    the action without its take number for Human3.6M ("Walking 1" -> "Walking")."""
    info = mocap.meta.get("clips", {}).get(key, {})
    desc = info.get("description")
    if desc:
        return desc.split(" - ")[0].split(",")[0].strip()
    return key.split("/", 1)[-1].rstrip("0123456789 ").strip() or key


def format_table(rows: dict[str, dict[str, float]], per_clip: bool = True) -> str:
    cols = ["mpjpe", "p_mpjpe", "n_mpjpe", "mpjve", "mpjpe_masked", "p_mpjpe_masked", "masked_fraction", "frames"]
    head = "| sequence | MPJPE | P-MPJPE | N-MPJPE | MPJVE | MPJPE occ. | P-MPJPE occ. | occ. frac. | frames |"
    lines = [head, "|" + "---|" * (len(cols) + 1)]
    actions = [k for k in rows if k.startswith("action:")]
    clips = [k for k in rows if k != "ALL" and not k.startswith("action:")] if per_clip else []
    for k in [*clips, *actions, "ALL"]:
        r = rows[k]
        vals = []
        for c in cols:
            v = r.get(c, float("nan"))
            vals.append(f"{v:.0f}" if c == "frames" else f"{v:.3f}" if c == "masked_fraction" else f"{v:.1f}")
        lines.append(f"| {k} | " + " | ".join(vals) + " |")
    return "\n".join(lines)
