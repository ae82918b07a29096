"""Change a packaged model's test-time settings (flip and grid averaging, C* averaged over frames, the bone pull)
with its weights untouched, and rescore its card: for a setting chosen after the model shipped, when its training
run is not at hand (``tools/ship_model.py`` packages from the run).

Rerun: python tools/set_test_time.py causal --bones 0.5 [--views 4]
Rewrites src/occlupose/weights/NAME.pt and the metrics of NAME.md, and notes the command in the card.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import replace
from pathlib import Path

import torch
from ship_model import WEIGHTS  # this folder is on the path: run as a script

from occlupose.data import load_mocap
from occlupose.evaluate import evaluate_model
from occlupose.lifter import PACKAGED, load_checkpoint, save_checkpoint, test_time_options, with_test_time

KEYS = ("mpjpe", "p_mpjpe", "n_mpjpe", "mpjve", "mpjpe_masked", "p_mpjpe_masked")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name", choices=PACKAGED)
    ap.add_argument("--flip", action="store_true", help="flip averaging on (ModelConfig.flip_test)")
    ap.add_argument("--grid", action="store_true", help="stride-grid averaging on (ModelConfig.shift_test)")
    ap.add_argument("--confidence-frames", type=int, help="C* averaged over this many frames")
    ap.add_argument("--bones", type=float, metavar="SHARE", help="bone pull share (ModelConfig.bone_test)")
    ap.add_argument("--views", type=int, default=4, help="virtual views per test clip for the card's metrics")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--weights", type=Path, default=WEIGHTS, help="the folder of NAME.pt and NAME.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out, card_path = args.weights / f"{args.name}.pt", args.weights / f"{args.name}.md"
    loaded = load_checkpoint(out)
    weights = {k: v.half() for k, v in loaded.model.state_dict().items() if v.is_floating_point()}
    cfg = with_test_time(loaded.model.cfg, args.flip, args.grid, args.confidence_frames, args.bones)
    if cfg == loaded.model.cfg:
        sys.exit(f"{out} already has these test-time settings: nothing to change")
    loaded.model.cfg = cfg
    save_checkpoint(out, loaded.model, replace(loaded.config, model=cfg), loaded.meta["step"], half=True,
                    extra={k: loaded.meta[k] for k in ("trained_at_commit",) if k in loaded.meta})
    shipped = load_checkpoint(out)
    same = all(torch.equal(v.half(), weights[k]) for k, v in shipped.model.state_dict().items() if k in weights)
    if not same or shipped.model.cfg != cfg:
        sys.exit(f"{out}: the rewritten checkpoint does not hold the same weights and new settings")
    mocap = load_mocap(shipped.config.data)
    rows = {label: evaluate_model(shipped.model, mocap, views=args.views, clean=clean)["ALL"]
            for label, clean in (("detector-like 2D", False), ("clean 2D", True))}
    options = test_time_options(args.flip, args.grid, args.confidence_frames, args.bones)
    command = f"python tools/set_test_time.py {args.name}{options} --views {args.views}"
    card = card_path.read_text()
    for label, r in rows.items():
        card, n = re.subn(rf"^\| {re.escape(label)} \|.*$",
                          f"| {label} | " + " | ".join(f"{r[k]:.1f}" for k in KEYS) + " |", card, flags=re.M)
        if n != 1:
            sys.exit(f"{card_path}: no single metrics row '{label}' to update")
    # the command goes at the end of the card's command block: the settings on top of the packaged run's
    card = re.sub(r"(## Command\n```\n(?:.*\n)*?)```", lambda m: f"{m.group(1)}{command}\n```", card, count=1)
    settings = ", ".join(f"`model.{k}: {v}`" for k, v in (  # the ones this command set
        ("flip_test", "true" if args.flip else None), ("shift_test", "true" if args.grid else None),
        ("encoding.confidence_frames", cfg.encoding.confidence_frames if args.confidence_frames else None),
        ("bone_test", f"{cfg.bone_test:g}" if args.bones is not None else None)) if v is not None)
    card = card.rstrip("\n") + (f"\n\nTest-time settings changed after packaging, weights untouched (`{command}`): "
                                f"{settings}. The metrics above are with them.\n")
    card_path.write_text(card)
    print(card)
    print(f"wrote {out} and {card_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
