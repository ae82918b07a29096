"""Train and evaluate rows of the ablation (paper Table 2): configs/ablation/<row>.yaml.

Each row is trained with its config (optionally fewer steps, other seeds) and evaluated on the test subjects
with the fixed-seed detector-like inputs, overall and on occluded joints. Prints one markdown row per run and
writes runs/ablation/<row>-s<seed>/eval.json.

Rerun one row:   python benchmarks/ablation.py 1_baseline
All rows, 2 seeds, a shorter shared budget:   python benchmarks/ablation.py all --seeds 0 1 --steps 1000
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch

from occlupose.config import load_config
from occlupose.data import load_mocap
from occlupose.evaluate import evaluate_model
from occlupose.lifter import load_checkpoint
from occlupose.train import train

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "ablation"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rows", nargs="+", help="row names (file stems in configs/ablation) or 'all'")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--steps", type=int, help="shared budget override (applied to every row alike)")
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--out", default="runs/ablation")
    ap.add_argument("--device")
    ap.add_argument("--resume", action="store_true", help="continue unfinished runs, reuse finished ones")
    args = ap.parse_args()
    names = sorted(p.stem for p in CONFIGS.glob("*.yaml")) if args.rows == ["all"] else args.rows
    print(f"command: python benchmarks/ablation.py {' '.join(args.rows)} --seeds {' '.join(map(str, args.seeds))}"
          + (f" --steps {args.steps}" if args.steps else ""))
    print("| row | seed | steps | MPJPE | P-MPJPE | MPJPE occluded | P-MPJPE occluded |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        path = CONFIGS / f"{name}.yaml"
        cfg = load_config(path)
        for seed in args.seeds:
            run_cfg = replace(cfg, seed=seed, **({"steps": args.steps} if args.steps else {}))
            run = Path(args.out) / f"{name}-s{seed}"
            final = run / "final.pt"
            if not (args.resume and final.is_file()):
                final = train(run_cfg, run, resume=args.resume, device=args.device, progress=True)
            device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
            loaded = load_checkpoint(final, device)
            rows = evaluate_model(loaded.model, load_mocap(run_cfg.data), views=args.views,
                                  device=device)
            (run / "eval.json").write_text(json.dumps(rows, indent=1))
            a = rows["ALL"]
            print(f"| {name} | {seed} | {run_cfg.steps} | {a['mpjpe']:.1f} | {a['p_mpjpe']:.1f} | "
                  f"{a['mpjpe_masked']:.1f} | {a['p_mpjpe_masked']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
