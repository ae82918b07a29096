"""Lifting throughput of a model: frames/s on batched 600-frame sequences, and its parameter count.

Rerun: python benchmarks/lift_throughput.py [--model CKPT] [--threads 2] [--batch 8] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from occlupose.lifter import load_checkpoint, prepare_input
from occlupose.models import STRIDE_GRID, count_parameters


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", help="checkpoint (default: the shipped model)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    loaded = load_checkpoint(args.model, args.device)
    model = loaded.model
    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 500, (args.batch, args.frames, 17, 2))
    rel = rng.random((args.batch, args.frames, 17)) > 0.15
    x = prepare_input(model, kp, rel).x
    x = torch.from_numpy(x).to(args.device)
    with torch.inference_mode():
        model.infer(x)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            model.infer(x)  # what lift/run use (with flip and grid averaging when the checkpoint asks for them)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
    dt = min(times)
    n = args.batch * args.frames
    print(f"# lifting throughput, model {loaded.name}, device {args.device}, {args.threads} threads")
    print(f"command: python benchmarks/lift_throughput.py --threads {args.threads} --batch {args.batch}"
          f" --device {args.device}")
    parts = "2D TCN + 3D TCN" if model.cfg.use_2d_tcn else "3D TCN"
    grid = STRIDE_GRID if model.cfg.grid_averaged else 1
    passes = (2 if model.cfg.flip_test else 1) * grid
    flip = (", flip-averaged" if model.cfg.flip_test else "") + (", grid-averaged" if grid > 1 else "")
    flip += f" ({passes} passes in one batch)" if passes > 1 else ""
    print(f"parameters: {count_parameters(model):,} ({parts}{flip}, {model.cfg.encoding.mode} encoding)")
    print(f"batch {args.batch} x {args.frames} frames: {dt * 1000:.1f} ms -> {n / dt:,.0f} frames/s")


if __name__ == "__main__":
    main()
