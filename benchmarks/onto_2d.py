"""The 3D pulled onto the 2D (``RunConfig.onto_2d``, ``trajectory.onto_rays``) on mocap, where the truth is known.

The real-video benchmark chose the share on one scene and scored it on the other. This checks it where the
lifter is in its own domain: clips of bodies the shipped model never trained on (HDM05's actors by default),
each seen through ``--views`` pinhole cameras with the project's detector-like 2D (the evaluator's test-input
generator, every window in perspective: a ray needs a camera). Per clip and view: the lifter's 3D, the root
placed as ``occlupose run`` places it (``trajectory.trajectory`` on the joints with C* >= 0.3, smoothed), then
each reliable joint moved ``share`` of the way onto its keypoint's ray. MPJPE, P-MPJPE, MPJVE and MPJPE on the
occluded joints (mm, root-aligned) for every share; and, for scale, the same with clean 2D (the exact
projection, every joint reliable), where the 2D is right by construction.

Rerun: python benchmarks/onto_2d.py [--model CKPT] [--bodies hdm05|cmu_extra|PATH] [--views 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from occlupose.augment import Augmenter, box_size
from occlupose.data import extra_mocap_path, load_mocap
from occlupose.evaluate import EVAL_AUGMENT, EVAL_SEED
from occlupose.lifter import lift_in_view, load_checkpoint
from occlupose.metrics import evaluate_sequences
from occlupose.smoothing import smooth
from occlupose.trajectory import Intrinsics, TrajectoryConfig, onto_rays, onto_weights, trajectory

SHARES = (0.0, 0.25, 0.5, 0.75, 1.0)
#: the Augmenter's pinhole 2D is in focal-1 image units, centred on the optical axis
UNIT_CAMERA = Intrinsics(1.0, 0.0, 0.0)


#: which joints move, and how far: "reliable" (C* >= b, the share in full; RunConfig.onto_2d), "conf" (the share
#: times C*, no threshold), "conf5" (the share times C* over 5 frames: trajectory.onto_weights, as ``run`` weighs)
RULES = ("reliable", "conf", "conf5")


def weights(rule: str, conf: np.ndarray, threshold: float) -> np.ndarray:
    """(T, 17) weights in [0, 1] of one rule."""
    if rule == "reliable":
        return (conf >= threshold).astype(np.float64)
    if rule == "conf":
        return conf.astype(np.float64)
    return onto_weights(conf)


@torch.no_grad()
def scores(model, mocap, keys: list[str], views: int, clean: bool, smoothing: str
           ) -> dict[tuple[str, float], dict[str, float]]:
    """(rule, share) -> the "ALL" row of :func:`evaluate_sequences` over every clip and view. ``smoothing``: the
    2D smoothed as ``occlupose run`` does before lifting (``one_euro_fb``) or not (``none``, as ``evaluate``)."""
    aug = Augmenter(EVAL_AUGMENT, model.cfg.encoding.filter)
    threshold = model.cfg.encoding.filter.threshold
    variants = [(r, s) for r in RULES for s in SHARES if s > 0 or r == RULES[0]]
    preds: dict[tuple[str, float], dict[str, np.ndarray]] = {v: {} for v in variants}
    gts, masks = {}, {}
    for ci, key in enumerate(keys):
        for v in range(views):
            rng = np.random.default_rng([EVAL_SEED, ci, v])
            batch = aug(rng, mocap.clips[key][None], perspective=np.ones(1, bool))
            kp = (batch.gt_2d if clean else batch.det_2d)[0].astype(np.float64)
            conf = np.ones_like(batch.conf[0]) if clean else batch.conf[0]
            times = np.arange(len(kp)) / mocap.fps
            kp = smooth(kp, times, box_size(kp), smoothing)
            pose = lift_in_view(model, kp[None], conf[None], True)[0].astype(np.float64)  # focal-1 units
            root = trajectory(pose, kp, conf, times, UNIT_CAMERA, TrajectoryConfig())
            name = f"{key}#v{v}"
            for rule, share in variants:
                w = weights(rule, conf, threshold)
                preds[rule, share][name] = onto_rays(pose, root, kp, w, UNIT_CAMERA, share)[0]
            gts[name], masks[name] = batch.poses_3d[0], batch.occluded[0]
    return {v: evaluate_sequences(preds[v], gts, masks)["ALL"] for v in variants}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None, help="checkpoint (default: the shipped model)")
    ap.add_argument("--bodies", default="hdm05", help="hdm05, cmu_extra (its S35) or a mocap file")
    ap.add_argument("--views", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = load_checkpoint(args.model).model.eval()
    mocap = load_mocap(extra_mocap_path(args.bodies))
    keys = mocap.keys("train", subjects=["S35"] if args.bodies == "cmu_extra" else None)
    t0 = time.perf_counter()
    print(f"{args.bodies}: {len(keys)} clips x {args.views} pinhole views, model {args.model or 'default'}\n")
    print("| 2D | smoothed as `run` does | weights | share | MPJPE | P-MPJPE | MPJVE | MPJPE occluded |")
    print("|---|---|---|---|---|---|---|---|")
    for clean, smoothing in ((False, "one_euro_fb"), (False, "none"), (True, "none")):
        for (rule, share), row in scores(model, mocap, keys, args.views, clean, smoothing).items():
            kind = "clean" if clean else "detector-like"
            print(f"| {kind} | {'yes' if smoothing != 'none' else 'no'} | {rule if share else '–'} | {share:g} | "
                  f"{row['mpjpe']:.1f} | {row['p_mpjpe']:.1f} | {row['mpjve']:.1f} | {row['mpjpe_masked']:.1f} |",
                  flush=True)
    print(f"\n{time.perf_counter() - t0:.0f} s. rerun: python benchmarks/onto_2d.py --bodies {args.bodies} "
          f"--views {args.views}" + (f" --model {args.model}" if args.model else ""))


if __name__ == "__main__":
    main()
