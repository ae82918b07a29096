"""Bring training runs back from a GPU machine under its transfer limits (a few files of at most 16 MiB).

Each run folder keeps its small files (eval.json, log.csv, config.yaml) and its final.pt as model weights only,
in float16 (what ``tools/ship_model.py`` packages; about 5 MB at width 256 instead of 30 with the optimiser's
state). One tar of the given run folders, refused (and removed) over ``--max-mb``: pack fewer runs per tar.

    python tools/pack_runs.py runs/gpu/val/default_cmu_extra-s0 runs/gpu/val/default_cmu_extra-s1 --out $OUT/val.tar
Unpack with ``tar xf val.tar`` in the repository root: the folders come back under their own paths.
"""

from __future__ import annotations

import argparse
import sys
import tarfile
import tempfile
from pathlib import Path

from occlupose.lifter import load_checkpoint, save_checkpoint

SMALL = ("eval.json", "log.csv", "config.yaml")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run folders (relative paths are kept inside the tar)")
    ap.add_argument("--out", required=True, help="the tar file to write")
    ap.add_argument("--max-mb", type=float, default=16.0, help="refuse to write a larger tar")
    args = ap.parse_args()
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(out, "w") as tar:
        for run in map(Path, args.runs):
            if not run.is_dir():
                print(f"pack_runs: {run}: no such run folder, skipped", file=sys.stderr)
                continue
            for name in SMALL:
                if (run / name).is_file():
                    tar.add(run / name, arcname=str(run / name))
            if (run / "final.pt").is_file():
                loaded = load_checkpoint(run / "final.pt")
                lean = Path(tmp) / f"{run.name}.pt"
                save_checkpoint(lean, loaded.model, loaded.config, loaded.meta["step"], half=True,
                                extra={"git_commit": loaded.meta.get("git_commit", "unknown")})
                tar.add(lean, arcname=str(run / "final.pt"))
    size = out.stat().st_size / 2**20
    if size > args.max_mb:  # it would not come back whole: pack fewer runs per tar
        out.unlink()
        raise SystemExit(f"pack_runs: {out} is {size:.1f} MiB, over --max-mb {args.max_mb:g}")
    print(f"{out}: {size:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
