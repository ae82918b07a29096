"""Turn a training run into the shipped model: half-precision weights in the package and a model card.

Rerun: python tools/ship_model.py runs/default [--views 4] [--ensemble runs/default-seed1 ...]
Writes src/occlupose/weights/default.pt and default.md (data, config, command, commit, metrics).
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import torch

from occlupose.data import load_mocap
from occlupose.evaluate import evaluate_model, format_table
from occlupose.lifter import PACKAGED, combine, load_checkpoint, save_checkpoint, with_test_time
from occlupose.models import count_parameters
from occlupose.train import training_mocap

WEIGHTS = Path(__file__).resolve().parents[1] / "src" / "occlupose" / "weights"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("run", help="run folder with final.pt, config.yaml and log.csv")
    ap.add_argument("--views", type=int, default=4, help="virtual views per test clip for the card's metrics")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--history", default="", help="how the run went (resumes, code changes), for the card")
    ap.add_argument("--command", help="the command that trained the run, if not `occlupose train --config "
                                      "configs/default.yaml -o RUN`")
    ap.add_argument("--hardware", default="a 2-core CPU", help="what it trained on, for the card")
    ap.add_argument("--chosen", help="a Markdown file: the card's 'How this design was chosen' section")
    ap.add_argument("--grid", action="store_true",
                    help="package it with test-time stride-grid averaging on (ModelConfig.shift_test), for a run "
                         "trained before that setting existed")
    ap.add_argument("--confidence-frames", type=int,
                    help="package it with C* averaged over this many frames (InputEncoding.confidence_frames), a "
                         "test-time setting for a run trained without it")
    ap.add_argument("--bones", type=float, metavar="SHARE",
                    help="package it with bone lengths pulled this share toward each sequence's median "
                         "(ModelConfig.bone_test), a test-time setting")
    ap.add_argument("--ensemble", nargs="+", default=[], metavar="RUN",
                    help="more run folders of the same recipe (other seeds): the packaged model averages the 3D of "
                         "all of them (ModelConfig.ensemble)")
    ap.add_argument("--name", default="default", choices=PACKAGED,
                    help="which packaged model to write: weights/NAME.pt and NAME.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    run = Path(args.run)
    loaded = load_checkpoint(run / "final.pt")
    members = [load_checkpoint(Path(r) / "final.pt") for r in args.ensemble]
    for r, m in zip(args.ensemble, members):
        # a fine-tuned member starts from its own seed's lifter: its init may differ too
        if replace(m.config, seed=loaded.config.seed, init=loaded.config.init) != loaded.config:
            sys.exit(f"{r}: trained with another recipe than {run} (only the seed, and a fine-tuning's starting "
                     "weights, may differ in an ensemble)")
    if members:
        loaded.model = combine([loaded.model] + [m.model for m in members])
    # test-time settings: the weights are the run's
    loaded.model.cfg = with_test_time(loaded.model.cfg, grid=args.grid, confidence_frames=args.confidence_frames,
                                      bones=args.bones)
    loaded.config = replace(loaded.config, model=loaded.model.cfg)
    out = WEIGHTS / f"{args.name}.pt"
    # the packaged model keeps its product name whatever the recipe's run was called (the card names the recipe)
    save_checkpoint(out, loaded.model, replace(loaded.config, name=f"occlupose-{args.name}"), loaded.meta["step"],
                    half=True,
                    extra={"trained_at_commit": loaded.meta.get("git_commit", "unknown")})
    shipped = load_checkpoint(out)
    mocap = load_mocap(loaded.config.data)
    tables = {}
    for mode in ("detector", "clean"):
        rows = evaluate_model(shipped.model, mocap, views=args.views, clean=mode == "clean")
        tables[mode] = rows
    with open(run / "log.csv") as f:
        log = list(csv.DictReader(f))
    minutes = float(log[-1]["seconds"]) / 60 if log else float("nan")
    commit = loaded.meta.get("git_commit", "unknown")
    cfg_text = (run / "config.yaml").read_text()
    d, c = tables["detector"]["ALL"], tables["clean"]["ALL"]
    cfg = loaded.config
    train_data = training_mocap(cfg)
    parts = "2D TCN + 3D TCN" if cfg.model.use_2d_tcn else "3D TCN"
    if cfg.model.ensemble > 1:
        parts = f"{cfg.model.ensemble} lifters of {parts} averaged"
    frames = sum(len(train_data.clips[k]) for k in train_data.keys("train"))
    extra = ""
    if cfg.extra_data:
        extra = (f"\nPlus the training clips of the bundled extra files {', '.join(cfg.extra_data)} "
                 f"(`src/occlupose/mocap/README.md`): {len(train_data.subjects('train'))} training subjects, "
                 f"{frames:,} frames ({frames / train_data.fps / 60:.1f} min) in all.")
    if "hdm05" in cfg.extra_data:
        extra += ("\n**Licence note:** trained in part on HDM05 (M. Müller, T. Röder, M. Clausen, B. Eberhardt, "
                  "B. Krüger, A. Weber, *Documentation Mocap Database HDM05*, Universität Bonn, 2007), which is "
                  "licensed CC BY-SA 3.0; these weights are a derived work shared under the same licence.")
    if members:
        runs = ", ".join(f"`{r}` (seed {m.config.seed}, {m.meta['step']} steps)" for r, m in
                         zip([str(run), *args.ensemble], [loaded, *members]))
        extra += (f"\n**{len(members) + 1} lifters averaged** (`model.ensemble: {len(members) + 1}`): the same recipe "
                  f"trained {len(members) + 1} times apart with different seeds ({runs}); the packaged model gives "
                  "the mean of their 3D.")
    if cfg.init is not None:
        starts = ", ".join(f"`{m.config.init}`" for m in [loaded, *members])
        extra += (f"\nFine-tuned: the weights started from {starts} (trained lifters, `init` in the config), "
                  f"not from random ones; the command below trains only the fine-tuning.")
    encodings = {"paper": "the paper's: keypoints below b zeroed and flagged 0",
                 "soft": "soft: every 2D guess kept, with its Eq. 2 confidence C* as the third channel",
                 "unaware": "occlusion-unaware: every guess as reliable"}
    enc = cfg.model.encoding

    def row(name: str, r: dict) -> str:
        keys = ("mpjpe", "p_mpjpe", "n_mpjpe", "mpjve", "mpjpe_masked", "p_mpjpe_masked")
        return f"| {name} | " + " | ".join(f"{r[k]:.1f}" for k in keys) + " |"

    settings = []  # (the option, what it set) for each test-time setting packaged
    if args.grid:
        settings.append(("--grid", "`model.shift_test: true` (averaging over the stride grid)"))
    if args.confidence_frames:
        n = args.confidence_frames
        settings.append((f"--confidence-frames {n}",
                         f"`model.encoding.confidence_frames: {n}` (C* averaged over time)"))
    if args.bones is not None:
        settings.append((f"--bones {args.bones:g}",
                         f"`model.bone_test: {args.bones:g}` (bone lengths pulled toward the sequence's median)"))
    test_time = "".join(f" {option}" for option, _ in settings)
    grid_note = (f"\nPackaged with `{test_time.strip()}`, test-time settings on top of this config: "
                 + ", ".join(what for _, what in settings) + "." if settings else "")
    view = ("" if not cfg.model.ray_frame else
            "\nIt lifts each person as a camera turned to look straight at their pelvis would see them "
            f"(`model.ray_frame: true`{', `ray_input: true`: the 2D too' if cfg.model.ray_input else ''}), and "
            + ("`run` and `lift` turn its 3D back into the camera's axes with the camera (a focal length given, or "
               "stated in the 2D file, else a 65 degree field of view assumed)." if args.name != "causal" else
               "`run --causal` and `live` turn its 3D back into the camera's axes with the camera (a focal length "
               "or field of view given, else a 65 degree field of view assumed)."))
    chosen = f"\n## How this design was chosen\n{Path(args.chosen).read_text().strip()}\n" if args.chosen else ""
    what = {"default": "The default lifter of `occlupose run` and `occlupose lift`",
            "causal": "The causal lifter of `occlupose run --causal` (`--model causal`): each output sees only its "
                      "frame and the ones before it",
            "occluded": "The lifter for people behind objects (`occlupose run --model occluded`, `occlupose lift "
                        "--model occluded`): a keypoint the occlusion filter does not trust is dropped and filled "
                        "from context rather than believed"}[args.name]
    name_option = "" if args.name == "default" else f" --name {args.name}"
    ensemble = "".join(f" --ensemble {r}" for r in args.ensemble)
    card = f"""# Model card: {shipped.name}

{what}, trained with the recipe `{cfg.name}` ({parts}, {count_parameters(shipped.model):,} parameters,
stored in float16, {out.stat().st_size / 1e6:.1f} MB). Input encoding: {encodings[enc.mode]} (b = {enc.threshold:g},
sigma = {enc.sigma:g}{f", C* averaged over {enc.confidence_frames} frames" if enc.confidence_frames > 1 else ""}{
    f", the missing flag voted over {enc.flag_frames} frames" if enc.flag_frames > 1 else ""};
recorded in the checkpoint, used by `run`, `lift` and `evaluate`).{view}

## Data
Open CMU mocap, `cmu_h36m17_50fps.npz` (bundled: `src/occlupose/mocap/`): the 11 training subjects
({", ".join(mocap.subjects("train"))}), fully supervised, seen through random virtual cameras (Sec. 4.2) with
Cylinder Man occlusion labels, virtual occluders and the synthetic detector of `augment.py`.{extra}
Test subjects {", ".join(mocap.subjects("test"))} were never used for training or model choice.

## Command
```
{args.command or f"occlupose train --config configs/default.yaml -o {run}"}
python tools/ship_model.py {run}{name_option} --views {args.views}{test_time}{ensemble}
```
Final checkpoint written at commit `{commit}`; {loaded.meta["step"]} steps, {minutes:.0f} minutes on {args.hardware}.
{args.history}

## Metrics (test subjects, {args.views} fixed virtual views per clip, mm)
| input | MPJPE | P-MPJPE | N-MPJPE | MPJVE | MPJPE occluded joints | P-MPJPE occluded joints |
|---|---|---|---|---|---|---|
{row("detector-like 2D", d)}
{row("clean 2D", c)}

Occluded joints are {100 * d["masked_fraction"]:.1f} % of the test joints. Reproduce with
`occlupose evaluate {args.name} --views {args.views}`. Absolute numbers are not comparable with published
Human3.6M results (different subjects, skeleton semantics and cameras).
{chosen}
## Limitations
Trained on {frames / train_data.fps / 60:.1f} minutes of open mocap (mostly retargeted bodies), so unusual motions
and body shapes are out of distribution. The 2D errors it was trained against are a model of a detector, not a
real one. Output is root-relative and metric by prior (typical body size), not measured.

## Config
```yaml
{cfg_text}```{grid_note}
"""
    (WEIGHTS / f"{args.name}.md").write_text(card)
    print(card)
    print("detector 2D\n" + format_table(tables["detector"], per_clip=False))
    print("clean 2D\n" + format_table(tables["clean"], per_clip=False))
    print(f"wrote {out} and {WEIGHTS / (args.name + '.md')}", file=sys.stderr)
    subprocess.run(["git", "status", "--short", str(WEIGHTS)], check=False)


if __name__ == "__main__":
    main()
