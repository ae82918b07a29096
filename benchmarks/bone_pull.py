"""One lifter's bone pull (``ModelConfig.bone_test``) at several shares, on data it never trained on: how much
pulling each bone toward its median (over the sequence, or a causal model's last frames) buys.

Scored on the validation subjects S08/S13 when the lifter trained without them, and on the held-out bodies its
training files do not hold (HDM05's actors, CMU S35): the bodies a setting is chosen on. ``--split test`` scores
the test subjects instead (once, at the end). A causal model is scored as it runs offline (flip averaging as its
config says); ``--no-flip`` as ``live`` lifts it.

Rerun: python benchmarks/bone_pull.py CHECKPOINT|causal|default [--shares 0 0.3 0.5 0.7] [--split val|test]
[--views 4] [--no-flip]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch
from ablation import scoring_sets  # this folder is on the path: run as a script

from occlupose.data import load_mocap
from occlupose.deps import environment
from occlupose.evaluate import evaluate_model
from occlupose.lifter import load_checkpoint

COLUMNS = ("mpjpe", "p_mpjpe", "mpjve", "mpjpe_masked", "p_mpjpe_masked")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", help="a checkpoint file or a packaged model (default, causal)")
    ap.add_argument("--shares", type=float, nargs="+", default=[0.0, 0.3, 0.5, 0.7])
    ap.add_argument("--split", choices=["val", "test"], default="val")
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--no-flip", action="store_true", help="without flip averaging (as `occlupose live` lifts)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    loaded = load_checkpoint(args.checkpoint)
    model, cfg = loaded.model, loaded.config
    if args.no_flip:
        model.cfg = replace(model.cfg, flip_test=False)
    mocap = load_mocap(cfg.data)
    where = scoring_sets([cfg], mocap, args.split)
    window = f"its last {model.cfg.encoding.causal_window} frames" if model.cfg.tcn.causal else "the sequence"
    print(f"environment: {environment()}\nlifter: {args.checkpoint} ({'causal' if model.cfg.tcn.causal else 'offline'}"
          f", flip averaging {'on' if model.cfg.flip_test else 'off'}); each bone pulled toward its median over "
          f"{window}")
    for title, (data, keys) in where.items():
        print(f"\n## {title} ({args.views} views; detector-like 2D)\n")
        print("| share | MPJPE | P-MPJPE | MPJVE | MPJPE occluded | P-MPJPE occluded | seconds |")
        print("|---|---|---|---|---|---|---|")
        for share in args.shares:
            model.cfg = replace(model.cfg, bone_test=share)
            t = time.perf_counter()
            row = evaluate_model(model, data, views=args.views, keys=keys)["ALL"]
            print(f"| {share:g} | " + " | ".join(f"{row[c]:.1f}" for c in COLUMNS)
                  + f" | {time.perf_counter() - t:.0f} |", flush=True)
    shares = " ".join(f"{s:g}" for s in args.shares)
    print(f"\nrerun: python benchmarks/bone_pull.py {args.checkpoint} --shares {shares} --split {args.split} "
          f"--views {args.views}{' --no-flip' if args.no_flip else ''}")


if __name__ == "__main__":
    main()
