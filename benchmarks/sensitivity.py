"""Sensitivity to the sequence length and the Eq. 2 threshold b (paper Table 1): train the full model at each
grid point (the shared budget of the ablation) and tabulate and plot MPJPE, overall and on occluded joints.

Run the grid (each point is one ablation run; finished ones are reused):
    python benchmarks/sensitivity.py --steps 600 --batch-size 32 --channels 64 --out runs/abl
Only tabulate and plot what ran:
    python benchmarks/sensitivity.py --out runs/abl --report --plot docs/sensitivity.png
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from ablation import resolve, run_name, run_row, shrink

from occlupose.config import load_config

WINDOWS = (16, 32, 64, 128, 256)
THRESHOLDS = (0.2, 0.3, 0.4)
BASE = "7_full"  # window 128 and b 0.3: the ablation's own full-model run


def point_dir(out: Path, seed: int, window: int | None = None, threshold: float | None = None) -> Path:
    if window == 128:
        window = None
    if threshold is not None and abs(threshold - 0.3) < 1e-9:
        threshold = None
    return out / run_name(BASE, seed, window, threshold)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--windows", type=int, nargs="+", default=list(WINDOWS))
    ap.add_argument("--thresholds", type=float, nargs="+", default=list(THRESHOLDS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--channels", type=int)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--views", type=int, default=4)
    ap.add_argument("--out", default="runs/ablation")
    ap.add_argument("--report", action="store_true", help="only read the eval.json files in --out")
    ap.add_argument("--plot", help="write a PNG of both sweeps here")
    args = ap.parse_args()
    out = Path(args.out)
    base = shrink(load_config(resolve(BASE)), args.steps, args.batch_size, args.channels, threads=args.threads)
    grid = [("window", w, point_dir(out, args.seed, window=w)) for w in args.windows]
    grid += [("threshold", b, point_dir(out, args.seed, threshold=b)) for b in args.thresholds]
    results = {}
    for kind, value, run in grid:
        if args.report:
            if (run / "eval.json").is_file():
                results[(kind, value)] = json.loads((run / "eval.json").read_text())
            continue
        cfg = shrink(base, window=value) if kind == "window" else shrink(base, threshold=value)
        results[(kind, value)] = run_row(replace(cfg, seed=args.seed), run, args.views, resume=True)
    print(f"command: python benchmarks/sensitivity.py --out {args.out}" + (" --report" if args.report else ""))
    print("| setting | value | MPJPE | P-MPJPE | MPJPE occluded | train steps × batch |")
    print("|---|---|---|---|---|---|")
    for (kind, value), r in results.items():
        a = r["rows"]["ALL"]
        print(f"| {'sequence length' if kind == 'window' else 'threshold b'} | {value:g} | {a['mpjpe']:.1f} | "
              f"{a['p_mpjpe']:.1f} | {a['mpjpe_masked']:.1f} | {r['steps']} × {r['batch_size']} |")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        for ax, kind, label in ((axes[0], "window", "sequence length (frames, 50 fps)"),
                                (axes[1], "threshold", "threshold b (Eq. 2)")):
            pts = sorted((v, r["rows"]["ALL"]) for (k, v), r in results.items() if k == kind)
            if not pts:
                continue
            xs = [v for v, _ in pts]
            ax.plot(xs, [a["mpjpe"] for _, a in pts], "o-", label="MPJPE, all joints")
            ax.plot(xs, [a["mpjpe_masked"] for _, a in pts], "s--", label="MPJPE, occluded joints")
            if kind == "window":
                ax.set_xscale("log", base=2)
                ax.set_xticks(xs, [str(v) for v in xs])
            ax.set_xlabel(label)
            ax.set_ylabel("mm")
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=8)
        fig.suptitle("Full model, test subjects, detector-like 2D (benchmarks/sensitivity.py)", fontsize=9)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"wrote {args.plot}")


if __name__ == "__main__":
    main()
