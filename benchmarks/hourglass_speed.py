"""Hourglass inference speed: crops per second for the paper-standard model (8 stacks, 256 features, 256x256)
and the small synthetic-demo model, batch of 8 crops, including peak decoding.

    python benchmarks/hourglass_speed.py [--threads 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import time

import torch

from occlupose.hourglass import HourglassConfig, StackedHourglass, decode_heatmaps

MODELS = {
    "paper standard (8 stacks, 256 features, 256x256)": HourglassConfig(),
    "synthetic demo (2 stacks, 64 features, 64x64)": HourglassConfig(stacks=2, features=64, depth=3,
                                                                     input_size=64),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=5.0, help="time each model for about this long")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"command: python benchmarks/hourglass_speed.py --threads {args.threads} --device {args.device}")
    print("| model | parameters | crops/s | ms per crop |")
    print("|---|---|---|---|")
    for name, cfg in MODELS.items():
        model = StackedHourglass(cfg).to(args.device).eval()
        x = torch.rand(args.batch, 3, cfg.input_size, cfg.input_size, device=args.device)
        with torch.no_grad():
            decode_heatmaps(model.heatmaps(x))  # warm-up
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < args.seconds:
                decode_heatmaps(model.heatmaps(x))
                if args.device.startswith("cuda"):
                    torch.cuda.synchronize()
                n += args.batch
            dt = time.perf_counter() - t0
        params = sum(p.numel() for p in model.parameters())
        print(f"| {name} | {params:,} | {n / dt:.1f} | {1000 * dt / n:.1f} |", flush=True)


if __name__ == "__main__":
    main()
