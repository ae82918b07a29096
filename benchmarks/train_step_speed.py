"""How fast the training step itself runs on a device, apart from building batches: forward, losses, backward
and Adam on batches made once and kept on the device (mirrored every second step, as data echoing trains).
What a GPU run can reach once augmentation keeps up (``--echo``, workers): one run alone on an H100 made 80
steps/s with the GPU 19-27 % busy (docs/results.md, "Data echoing at the GPU budget"), bound by the step's own
overhead.

Rows: the network in float32 or bfloat16 (``TrainConfig.precision``), and the loss read back every step (as
the trainer did before it summed the terms on the device: each read makes the CPU wait for the GPU) or only
every ``log_every`` steps (the trainer now).

Rerun: python benchmarks/train_step_speed.py [CONFIG] [--device cuda] [--steps 200] [--channels 256]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch

from occlupose.augment import Augmenter
from occlupose.checkpoint import check_device
from occlupose.config import load_config
from occlupose.deps import environment
from occlupose.lifter import PoseLifter
from occlupose.train import Terms, _step, build_data, mirror_batch, step_batch, to_device

ROOT = Path(__file__).resolve().parents[1]


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config", nargs="?", default="configs/extra/default_cmu_extra_echo4.yaml")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--steps", type=int, default=200, help="timed steps per row (after 20 warm-up steps)")
    ap.add_argument("--channels", type=int, help="TCN width (default: the config's)")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = check_device(args.device)
    cfg = load_config(args.config if Path(args.config).is_file() else ROOT / args.config)
    if args.channels:
        cfg = replace(cfg, model=replace(cfg.model, tcn=replace(cfg.model.tcn, channels=args.channels)))
    data = build_data(cfg)
    aug = Augmenter(cfg.augment, cfg.model.encoding.filter)
    plain = [to_device(step_batch(cfg, data, aug, 0, i), device) for i in range(4)]
    batches = [b for p in plain for b in (p, mirror_batch(p))]
    print(f"environment: {environment()}; device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.startswith("cuda") else ""))
    print(f"\n{cfg.name}: batches of {cfg.batch_size} × {cfg.window} frames, TCN width {cfg.model.tcn.channels}, "
          f"{args.steps} timed steps a row\n")
    print("| network in | loss read back | steps/s | ms a step |")
    print("|---|---|---|---|")
    for precision in ("fp32", "bf16"):
        for every_step in (True, False):
            run = replace(cfg, precision=precision)
            torch.manual_seed(0)
            model = PoseLifter(run.model).to(device)
            opt = torch.optim.Adam(model.parameters(), lr=run.lr)
            terms = Terms()
            for i in range(20 + args.steps):
                if i == 20:
                    _sync(device)
                    t = time.perf_counter()
                values = _step(run, model, model, None, opt, None, batches[i % len(batches)], run.lr, False)
                terms.add(values)
                if every_step or (i + 1) % run.log_every == 0:
                    terms.check(i + 1)
                    terms.mean()
            _sync(device)
            seconds = time.perf_counter() - t
            print(f"| {precision} | {'every step' if every_step else f'every {run.log_every} steps'} | "
                  f"{args.steps / seconds:.1f} | {1e3 * seconds / args.steps:.1f} |", flush=True)
    extra = f" --channels {args.channels}" if args.channels else ""
    print(f"\nrerun: python benchmarks/train_step_speed.py {args.config} --device {args.device} --steps {args.steps}"
          f"{extra}")


if __name__ == "__main__":
    main()
