"""How long one training batch takes to build on one CPU core (augmentation: virtual camera, Cylinder Man labels,
virtual occluders, the synthetic detector, Eq. 2, the input encoding). A GPU run is bound by this, not by the
GPU: with W augmentation workers a run makes at most W / (this time) steps a second.

Rerun: python benchmarks/batch_speed.py [CONFIG ...] [--batches 40]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from occlupose.augment import Augmenter
from occlupose.config import load_config
from occlupose.deps import environment
from occlupose.train import build_data, step_batch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("configs", nargs="*", default=["configs/default.yaml", "configs/ablation/1_baseline.yaml",
                                                   "configs/paper.yaml"])
    ap.add_argument("--batches", type=int, default=40)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"environment: {environment()}")
    print("\n| config | batch | min ms | 25th percentile ms | median ms | batches/s on one core (median) |")
    print("|---|---|---|---|---|---|")
    for path in args.configs:
        cfg = load_config(path if Path(path).is_file() else ROOT / path)
        data = build_data(cfg)
        aug = Augmenter(cfg.augment, cfg.model.encoding.filter)
        step_batch(cfg, data, aug, 0, 0)  # warm
        ms = []
        for step in range(args.batches):
            t = time.process_time()  # CPU time: a shared machine's waits do not count
            step_batch(cfg, data, aug, 0, step)
            ms.append(1e3 * (time.process_time() - t))
        q = np.percentile(ms, [0, 25, 50])
        print(f"| {path} | {cfg.batch_size} × {cfg.window} | {q[0]:.0f} | {q[1]:.0f} | {q[2]:.0f} | {1e3 / q[2]:.1f} |")
    print(f"\nrerun: python benchmarks/batch_speed.py {' '.join(args.configs)} --batches {args.batches}")


if __name__ == "__main__":
    main()
