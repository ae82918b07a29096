"""Global trajectory on the test subjects: each test clip seen from N virtual pinhole cameras 3-8 m away (the
evaluation's fixed seeds, every view perspective), the lifter's root-relative 3D placed by
:func:`occlupose.trajectory.trajectory` from the detector-like 2D, scored against the true root.

Prints the root position error (mm), the depth error (mm and % of the distance), the error as % of the camera
distance (the issue's goal: <= 10 %), for the detector-like and the clean 2D, and the same with the true
root-relative pose (what the solve itself costs, apart from the lifter's pose error).

Rerun: python benchmarks/trajectory.py [--model CKPT] [--views 4] [--split test|val]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import torch
from ablation import VAL_SUBJECTS  # the validation subjects of benchmarks/ablation.py

from occlupose.data import load_mocap
from occlupose.evaluate import EVAL_AUGMENT, EVAL_SEED, test_inputs
from occlupose.lifter import lift_in_view, load_checkpoint
from occlupose.trajectory import Intrinsics, TrajectoryConfig, trajectory


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="lifter checkpoint (default: the shipped model)")
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--split", choices=["test", "val"], default="test")
    ap.add_argument("--smoothing", default="one_euro_fb", choices=["one_euro_fb", "one_euro", "none"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    loaded = load_checkpoint(args.model)
    model = loaded.model
    mocap = load_mocap(loaded.config.data)
    keys = mocap.keys("train", subjects=list(VAL_SUBJECTS)) if args.split == "val" else mocap.keys("test")
    aug = replace(EVAL_AUGMENT, perspective_prob=1.0)
    cam = Intrinsics(1.0, 0.0, 0.0)  # the test 2D is in focal-1 image units, principal point at 0
    cfg = TrajectoryConfig(smoothing=args.smoothing)
    errs: dict[str, list[np.ndarray]] = {}
    fps = model.cfg.fps
    for _, batch in test_inputs(mocap, keys, args.views, aug, EVAL_SEED, model.cfg.encoding.filter):
        truth = batch.root[0].astype(np.float64)  # (T, 3)
        times = np.arange(len(truth)) / fps
        for name, kp, conf in (("detector-like 2D", batch.det_2d[0], batch.conf[0]),
                               ("clean 2D", batch.gt_2d[0], np.ones_like(batch.conf[0]))):
            with torch.no_grad():
                pose = lift_in_view(model, kp, conf, True)  # focal-1 units about the principal point
            for label, p in ((name, pose), (name + ", true pose", batch.poses_3d[0])):
                root = trajectory(p, kp, conf, times, cam, cfg)
                dist = np.linalg.norm(truth, axis=-1)
                e = np.linalg.norm(root - truth, axis=-1)
                dz = np.abs(root[:, 2] - truth[:, 2])
                errs.setdefault(label, []).append(np.stack([e, dz, dz / truth[:, 2], e / dist], -1))
    print(f"\nroot position on the {args.split} subjects, {args.views} pinhole views per clip at 3-8 m, "
          f"model {loaded.name}, smoothing {args.smoothing}\n")
    print("| 2D, pose | root error mm | depth error mm | depth error % | error % of distance | frames |")
    print("|---|---|---|---|---|---|")
    for label, rows in errs.items():
        r = np.concatenate(rows)
        print(f"| {label} | {r[:, 0].mean() * 1000:.0f} | {r[:, 1].mean() * 1000:.0f} | {100 * r[:, 2].mean():.1f} "
              f"| {100 * r[:, 3].mean():.1f} | {len(r)} |")
    print(f"\nrerun: python benchmarks/trajectory.py --views {args.views} --split {args.split}"
          + (f" --model {args.model}" if args.model else "") + f" --smoothing {args.smoothing}")


if __name__ == "__main__":
    main()
