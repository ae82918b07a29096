"""Train and evaluate rows of the ablation (paper Table 2), the semi-supervised runs and the sensitivity grid.

A row is a config: a file stem in configs/ablation (``1_baseline`` ... ``7_full``), or any YAML path
(``configs/semi/semi_reg.yaml``). Each run is trained with its config, optionally with a budget shrunk alike
for every row (``--steps``, ``--batch-size``, ``--channels``) and one swept setting (``--window``,
``--threshold``: the Eq. 2 threshold b, in training and at test time), then scored on the test subjects with
the fixed-seed detector-like inputs, overall and on the occluded joints. It prints one markdown row per run
and writes ``<out>/<row>[-w<window>][-b<threshold>]-s<seed>/eval.json``; ``--report`` only gathers those
files into a table with mean ± half-range over seeds.

Rerun one row:     python benchmarks/ablation.py 1_baseline
All rows, 2 seeds, the budget of docs/results.md:
    python benchmarks/ablation.py all --seeds 0 1 --steps 600 --batch-size 32 --channels 64 --out runs/abl
Table of what ran: python benchmarks/ablation.py all --seeds 0 1 --out runs/abl --report
Choosing settings: --split val trains without S08/S13 and scores them, and the bodies no training file of the
row holds (HDM05's actors, CMU S35): --report [--flip [--grid]] [--bodies hdm05|cmu_extra] tabulates either.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from occlupose.config import TrainConfig, load_config
from occlupose.data import extra_mocap_path, load_mocap
from occlupose.evaluate import EVAL_AUGMENT, evaluate_model
from occlupose.lifter import load_checkpoint
from occlupose.train import train, training_mocap

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs" / "ablation"
METRICS = ("mpjpe", "p_mpjpe", "mpjpe_masked", "p_mpjpe_masked", "mpjve")


def resolve(row: str) -> Path:
    path = Path(row)
    if path.suffix in (".yaml", ".yml"):
        return path if path.is_absolute() or path.is_file() else ROOT / path
    return CONFIGS / f"{row}.yaml"


def row_names(rows: list[str]) -> list[str]:
    out = []
    for r in rows:
        out += sorted(p.stem for p in CONFIGS.glob("*.yaml")) if r == "all" else [r]
    return out


def shrink(cfg: TrainConfig, steps: int | None = None, batch_size: int | None = None,
           channels: int | None = None, window: int | None = None, threshold: float | None = None,
           threads: int | None = None) -> TrainConfig:
    """The row's config with the shared budget and swept settings applied."""
    if steps:
        cfg = replace(cfg, steps=steps, checkpoint_every=min(cfg.checkpoint_every, steps))
    if batch_size:
        cfg = replace(cfg, batch_size=batch_size)
    if channels:
        cfg = replace(cfg, model=replace(cfg.model, tcn=replace(cfg.model.tcn, channels=channels)))
    if window:
        cfg = replace(cfg, window=window)
    if threshold is not None:
        cfg = replace(cfg, model=replace(cfg.model, encoding=replace(cfg.model.encoding, threshold=threshold)))
    if threads is not None:
        cfg = replace(cfg, threads=threads)
    return cfg


def run_name(row: str, seed: int, window: int | None = None, threshold: float | None = None) -> str:
    return (Path(row).stem + (f"-w{window}" if window else "") + (f"-b{threshold:g}" if threshold is not None else "")
            + f"-s{seed}")


#: training subjects held out for choosing settings (``--split val``): jumps (S13) and walks (S08), 15 % of the
#: training frames. The test subjects are scored once, at the end.
VAL_SUBJECTS = ("S08", "S13")


#: bodies never trained on, for how a setting generalises to other proportions and motions (the validation
#: subjects share their skeleton with training subjects; the test subjects S16 and S131 do not): HDM05's five
#: actors, and CMU subject 35 of the extra CMU file; each scored beside the validation subjects, apart, when no
#: training file of the row holds it
HELDOUT_BODIES = {"hdm05": None, "cmu_extra": ("S35",)}


def heldout_bodies(name: str) -> tuple:
    """(Mocap, clip keys) of one entry of :data:`HELDOUT_BODIES`."""
    mocap = load_mocap(extra_mocap_path(name))
    return mocap, mocap.keys("train", subjects=HELDOUT_BODIES[name])


def scoring_sets(configs: list[TrainConfig], mocap, split: str) -> dict[str, tuple]:
    """{title: (Mocap, clip keys)} where lifters trained with ``configs`` are scored: "test": the test subjects;
    "val": the validation subjects unless a config trained on them, and each held-out body that no config's
    training files hold."""
    if split == "test":
        return {"test subjects": (mocap, mocap.keys("test"))}
    trained = set().union(*(c.subjects or mocap.subjects("train") for c in configs))  # all, unless listed
    where = {} if set(VAL_SUBJECTS) & trained else {
        "validation subjects " + ", ".join(VAL_SUBJECTS): (mocap, mocap.keys("train", list(VAL_SUBJECTS)))}
    extra = set().union(*(c.extra_data for c in configs))
    where.update({f"held-out bodies: {n}": heldout_bodies(n) for n in HELDOUT_BODIES if n not in extra})
    return where


def for_split(cfg: TrainConfig, split: str) -> TrainConfig:
    """``val``: train without the validation subjects; ``test``: the config as it is."""
    if split == "test":
        return cfg
    train_subjects = [s for s in training_mocap(cfg).subjects("train") if s not in VAL_SUBJECTS]
    return replace(cfg, subjects=tuple(train_subjects))


def run_row(cfg: TrainConfig, run: Path, views: int, device: str | None = None, resume: bool = False,
            progress: bool = True, split: str = "test", rescore: bool = False) -> dict:
    """Train (or reuse a finished run with ``resume``) and evaluate on ``split`` ("test": the test subjects,
    "val": :data:`VAL_SUBJECTS`, left out of training); return what eval.json holds. ``rescore``: evaluate a
    finished run's final.pt again (e.g. to add the flip-averaged scores), keeping its training time."""
    cfg = for_split(cfg, split)
    if cfg.threads:  # also when only scoring: two runs side by side must not oversubscribe
        torch.set_num_threads(cfg.threads)
    out = run / "eval.json"
    old: dict = {}
    if rescore:
        if not (run / "final.pt").is_file():
            raise FileNotFoundError(f"{run / 'final.pt'}: nothing to rescore")
        resume = True
        old = json.loads(out.read_text()) if out.is_file() else {}
        out.unlink(missing_ok=True)
    if resume and out.is_file():
        return json.loads(out.read_text())
    t0 = time.time()
    final = run / "final.pt"
    if not (resume and final.is_file()):
        final = train(cfg, run, resume=resume, device=device, progress=progress)
    seconds = old.get("train_seconds", float("nan")) if rescore else time.time() - t0
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    loaded = load_checkpoint(final, device)
    mocap = load_mocap(cfg.data)
    keys = mocap.keys("train", subjects=list(VAL_SUBJECTS)) if split == "val" else None

    def score(flip: bool, clean: bool = False, where: tuple | None = None, grid: bool = False) -> dict:
        data, clips = where or (mocap, keys)
        loaded.model.cfg = replace(loaded.model.cfg, flip_test=flip, shift_test=grid)
        # a bound row (augment.oracle_hidden, oracle_flags) is scored on the inputs it was trained for
        test_aug = replace(EVAL_AUGMENT, oracle_hidden=cfg.augment.oracle_hidden,
                           oracle_flags=cfg.augment.oracle_flags)
        return evaluate_model(loaded.model, data, aug_cfg=test_aug, views=views, device=device, keys=clips,
                              clean=clean)

    # every row plain, with test-time flip averaging, and with flip and grid averaging alike; clean 2D as the
    # model ships (its own flip_test and shift_test)
    rows, rows_flip, rows_clean = score(False), score(True), score(cfg.model.flip_test, True, grid=cfg.model.shift_test)
    rows_flip_grid = score(True, grid=True)
    bodies = {}
    for name in HELDOUT_BODIES if split == "val" else ():
        if name not in cfg.extra_data:
            where = heldout_bodies(name)
            bodies[f"rows_bodies_{name}"] = score(False, where=where)
            bodies[f"rows_bodies_{name}_flip"] = score(True, where=where)
            bodies[f"rows_bodies_{name}_flip_grid"] = score(True, where=where, grid=True)
    result = {"config": cfg.name, "seed": cfg.seed, "steps": cfg.steps, "batch_size": cfg.batch_size,
              "channels": cfg.model.tcn.channels, "window": cfg.window, "split": split,
              "encoding": cfg.model.encoding.mode, "threshold": cfg.model.encoding.threshold, "views": views,
              "train_seconds": round(seconds, 1), "rows": rows, "rows_flip": rows_flip,
              "rows_clean": rows_clean, "rows_flip_grid": rows_flip_grid, **bodies}
    out.write_text(json.dumps(result, indent=1))
    return result


def summarise(results: list[dict], key: str = "rows") -> dict[str, str]:
    """Mean ± half-range over seeds of each metric, as text (``key``: "rows" plain, "rows_flip" with test-time
    flip averaging)."""
    out = {}
    for m in METRICS:
        v = np.array([r[key]["ALL"][m] if key in r else np.nan for r in results])
        out[m] = f"{v.mean():.1f}" + (f" ± {(v.max() - v.min()) / 2:.1f}" if len(v) > 1 else "")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rows", nargs="+", help="row names (file stems in configs/ablation), YAML paths, or 'all'")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--steps", type=int, help="shared budget: training steps for every row alike")
    ap.add_argument("--batch-size", type=int, help="shared budget: windows per step")
    ap.add_argument("--channels", type=int, help="shared budget: TCN width")
    ap.add_argument("--window", type=int, help="sequence length (sensitivity grid)")
    ap.add_argument("--threshold", type=float, help="Eq. 2 threshold b in training and test (sensitivity grid)")
    ap.add_argument("--threads", type=int, help="CPU threads per run")
    ap.add_argument("--workers", type=int, default=0,
                    help="augmentation worker processes per run (same batches, faster on a GPU machine)")
    ap.add_argument("--views", type=int, default=4, help="virtual test cameras per test clip")
    ap.add_argument("--split", choices=["test", "val"], default="test",
                    help="val: train without S08/S13 and score on them (choose settings here); test: the test subjects")
    ap.add_argument("--out", default="runs/ablation")
    ap.add_argument("--init", help="fine-tune: start each run from this checkpoint ({seed}: the run's seed), e.g. "
                                  "runs/gpu/c256x5000/val/default-s{seed}/final.pt")
    ap.add_argument("--init-member", help="with --init: which lifter of an ensemble to start from ({seed}: the "
                                         "run's seed, e.g. --init default --init-member {seed})")
    ap.add_argument("--device")
    ap.add_argument("--resume", action="store_true", help="continue unfinished runs, reuse finished ones")
    ap.add_argument("--report", action="store_true", help="only tabulate the eval.json files already in --out")
    ap.add_argument("--flip", action="store_true", help="tabulate the scores with test-time flip averaging")
    ap.add_argument("--grid", action="store_true",
                    help="with --flip: the scores with flip and stride-grid averaging (ModelConfig.shift_test)")
    ap.add_argument("--clean", action="store_true", help="tabulate the scores on clean 2D (as the model ships)")
    ap.add_argument("--bodies", choices=list(HELDOUT_BODIES),
                    help="tabulate the scores on these held-out bodies (--split val runs whose training lacks them)")
    ap.add_argument("--rescore", action="store_true",
                    help="evaluate finished runs again (plain, flip-averaged, flip- and grid-averaged)")
    args = ap.parse_args()
    names = row_names(args.rows)
    print(f"command: python benchmarks/ablation.py {' '.join(args.rows)} --seeds {' '.join(map(str, args.seeds))}"
          + "".join(f" --{k.replace('_', '-')} {v}" for k, v in vars(args).items()
                    if k in ("steps", "batch_size", "channels", "window", "threshold", "split", "init", "init_member")
                    and v is not None)
          + f" --out {args.out}" + (" --report" if args.report else "") + (" --flip" if args.flip else "")
          + (" --grid" if args.grid else "")
          + (" --clean" if args.clean else "") + (f" --bodies {args.bodies}" if args.bodies else ""))
    print("| row | seeds | steps × batch | MPJPE | P-MPJPE | MPJPE occluded | P-MPJPE occluded | MPJVE |")
    print("|---|---|---|---|---|---|---|---|")
    for name in names:
        path = resolve(name)
        cfg = shrink(load_config(path), args.steps, args.batch_size, args.channels, args.window, args.threshold,
                     args.threads)
        cfg = replace(cfg, workers=args.workers)
        results = []
        for seed in args.seeds:
            run = Path(args.out) / ("val" if args.split == "val" else "") / run_name(name, seed, args.window,
                                                                                       args.threshold)
            if args.report:
                if (run / "eval.json").is_file():
                    results.append(json.loads((run / "eval.json").read_text()))
                continue
            init = args.init.format(seed=seed) if args.init else cfg.init
            member = int(args.init_member.format(seed=seed)) if args.init_member else cfg.init_member
            results.append(run_row(replace(cfg, seed=seed, init=init, init_member=member), run, args.views,
                                   args.device, args.resume,
                                   split=args.split, rescore=args.rescore))
        if not results:
            print(f"| {Path(name).stem} | (not run) | | | | | | |")
            continue
        key = "rows_clean" if args.clean else f"rows_bodies_{args.bodies}" if args.bodies else "rows"
        s = summarise(results, key + ("_flip" if args.flip and not args.clean else "")
                      + ("_grid" if args.flip and args.grid and not args.clean else ""))
        seeds = ",".join(str(r["seed"]) for r in results)
        print(f"| {Path(name).stem} | {seeds} | {results[0]['steps']} × {results[0]['batch_size']} | {s['mpjpe']} | "
              f"{s['p_mpjpe']} | {s['mpjpe_masked']} | {s['p_mpjpe_masked']} | {s['mpjve']} |", flush=True)


if __name__ == "__main__":
    main()
