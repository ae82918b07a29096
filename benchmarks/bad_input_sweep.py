"""Bad-input sweep: every command fed the inputs a careless user or an attacker gives, each in a process of its
own, classified by what happened. Counts what must stay zero: tracebacks, native crashes, unclear errors
(more than one line), silent successes on bad input, protected files replaced, code run from a data file,
and output left behind by a failed command.

Rerun: python benchmarks/bad_input_sweep.py [--jobs 2] [--only lift,run] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from badfiles import EXAMPLE, make_video, poisoned, street_frames, write_input  # noqa: E402


@dataclass
class Case:
    name: str
    argv: list[str]
    #: "error" (exit 2), "none" (exit 3: no person), "ok" (exit 0), "ok|none" (either)
    expect: str = "error"
    #: files whose bytes must be the same afterwards
    protect: list[Path] = field(default_factory=list)
    #: paths that must not exist after a failed command (its outputs)
    outputs: list[Path] = field(default_factory=list)
    #: a word the error must contain (so that the case fails for the reason it is meant to test)
    says: str = ""


def build(ws: Path) -> list[Case]:
    """The input files, made here, and the cases that use them."""
    from occlupose.hourglass import HourglassConfig, StackedHourglass, save_hourglass

    py = [sys.executable, "-m", "occlupose"]
    good = write_input(ws / "good.npz")
    run = ws / "tinyrun"
    tiny_cfg = ws / "tiny.yaml"
    tiny_cfg.write_text(yaml.safe_dump({"steps": 2, "batch_size": 2, "window": 16, "model": {"tcn": {"channels": 8}}}))
    subprocess.run([*py, "train", "--config", str(tiny_cfg), "-o", str(run), "--quiet"], check=True,
                   capture_output=True)
    ckpt = run / "final.pt"
    marker = ws / "PWNED"
    evil = poisoned(ckpt, ws / "evil.pt", marker)
    hg = ws / "hg.pt"
    save_hourglass(hg, StackedHourglass(HourglassConfig(stacks=1, features=8, depth=1, input_size=16)))
    evil_hg = poisoned(hg, ws / "evil_hg.pt", marker)
    resume_evil = ws / "resume_evil"
    resume_evil.mkdir()
    shutil.copy(run / "config.yaml", resume_evil / "config.yaml")
    poisoned(run / "last.pt", resume_evil / "last.pt", marker)
    other_cfg = ws / "other.yaml"
    other_cfg.write_text(yaml.safe_dump({**yaml.safe_load(tiny_cfg.read_text()), "seed": 5}))
    precious = ws / "precious"
    precious.mkdir()
    for name in ("x.npz", "d2.png", "res.json", "fig.png", "model.onnx", "a.npz", "c.png"):
        (precious / name).write_bytes(b"user data " + name.encode())
    old_run = ws / "old_run"
    old_run.mkdir()
    (old_run / "poses3d.npz").write_bytes(b"earlier results")
    (ws / "a_file").write_text("not a folder")
    (ws / "text.npz").write_text("hello")
    (ws / "text.pt").write_text("hello")
    (ws / "empty.mp4").write_bytes(b"")
    (ws / "text.mp4").write_text("not a video\n" * 50)
    (ws / "garbage.yaml").write_text(": : [unclosed\n")
    (ws / "list.yaml").write_text("- 1\n- 2\n")
    npy = ws / "npy.npz"
    with open(npy, "wb") as f:
        np.save(f, np.zeros((4, 17, 2)))
    np.savez(ws / "empty.npz")
    np.savez(ws / "h36m_pickle.npz", positions_3d=np.array([{"S9": {}}], dtype=object))
    h36m_dir = ws / "h36m"
    h36m_dir.mkdir()
    shutil.copy(ws / "h36m_pickle.npz", h36m_dir / "data_3d_h36m.npz")
    (ws / "missing_keys.npz").write_bytes(b"")
    np.savez(ws / "missing_keys.npz", keypoints=np.zeros((4, 17, 2)))

    bad_2d = {
        "kp_shape": {"keypoints": np.zeros((4, 16, 2))}, "scores_shape": {"scores": np.ones((4, 3))},
        "kp_nan": {"keypoints": np.full((40, 17, 2), np.nan)}, "scores_inf": {"scores": np.full((40, 17), np.inf)},
        "scores_gt1": {"scores": np.full((40, 17), 1.5)}, "scores_neg": {"scores": np.full((40, 17), -0.1)},
        "width_array": {"width": np.array([640, 480])}, "width_zero": {"width": 0}, "fps_zero": {"fps": 0.0},
        "fps_nan": {"fps": np.nan}, "fps_text": {"fps": np.array("thirty")}, "layout_unknown": {"layout": "body25"},
        "layout_numbers": {"layout": np.arange(3)}, "kp_text": {"keypoints": np.full((40, 17, 2), "x")},
        "kp_object": {"keypoints": np.array([{"a": 1}], dtype=object)}, "t_zero": {"keypoints": np.zeros((0, 17, 2)),
                                                                                  "scores": np.zeros((0, 17))},
        "all_missing": {"scores": np.zeros((40, 17))}, "all_at_origin": {"keypoints": np.zeros((40, 17, 2))},
    }
    out = ws / "out"
    lift = [*py, "lift"]
    cases = [Case(f"lift {k}", [*lift, str(write_input(ws / f"bad_{k}.npz", **v)), "-o", str(ws / "o.npz"),
                                "--model", str(ckpt)], outputs=[ws / "o.npz"],
                  says="nothing to lift" if k.startswith("all_") else f"bad_{k}.npz") for k, v in bad_2d.items()]
    m = ["--model", str(ckpt)]
    cases += [
        Case("lift missing input", [*lift, str(ws / "nope.npz"), "-o", str(ws / "o1.npz"), *m],
             outputs=[ws / "o1.npz"]),
        Case("lift folder as input", [*lift, str(ws), "-o", str(ws / "o1.npz"), *m], outputs=[ws / "o1.npz"]),
        Case("lift text as npz", [*lift, str(ws / "text.npz"), "-o", str(ws / "o1.npz"), *m], outputs=[ws / "o1.npz"]),
        Case("lift npy renamed", [*lift, str(npy), "-o", str(ws / "o1.npz"), *m], outputs=[ws / "o1.npz"]),
        Case("lift empty npz", [*lift, str(ws / "empty.npz"), "-o", str(ws / "o1.npz"), *m], outputs=[ws / "o1.npz"]),
        Case("lift missing keys", [*lift, str(ws / "missing_keys.npz"), "-o", str(ws / "o1.npz"), *m],
             outputs=[ws / "o1.npz"]),
        Case("lift -o ''", [*lift, str(good), "-o", "", *m]),
        Case("lift -o x (x.npz exists)", [*lift, str(good), "-o", str(precious / "x"), *m],
             protect=[precious / "x.npz"]),
        Case("lift -o folder holding a.npz", [*lift, str(good), str(write_input(ws / "a.npz")), "-o", str(precious),
                                              *m], protect=[precious / "a.npz"], says="a.npz exists"),
        Case("lift --render over c.png", [*lift, str(good), "-o", str(precious / "c.npz"), "--render", *m],
             protect=[precious / "c.png"], outputs=[precious / "c.npz"]),
        Case("lift into missing folder", [*lift, str(good), "-o", str(ws / "no" / "o.npz"), *m], outputs=[ws / "no"]),
        Case("lift two inputs same name", [*lift, str(good), str(ws / "h36m" / ".." / "good.npz"), "-o", str(out),
                                           *m], outputs=[out]),
        Case("lift --model missing", [*lift, str(good), "-o", str(ws / "o1.npz"), "--model", str(ws / "no.pt")]),
        Case("lift --model text", [*lift, str(good), "-o", str(ws / "o1.npz"), "--model", str(ws / "text.pt")]),
        Case("lift --model poisoned", [*lift, str(good), "-o", str(ws / "o1.npz"), "--model", str(evil)]),
        Case("lift --model hourglass", [*lift, str(good), "-o", str(ws / "o1.npz"), "--model", str(hg)]),
        Case("lift --device banana", [*lift, str(good), "-o", str(ws / "o1.npz"), *m, "--device", "banana"]),
        Case("lift --device cuda", [*lift, str(good), "-o", str(ws / "o1.npz"), *m, "--device", "cuda"]),
    ]
    cases += [Case(f"lift --threshold {v}", [*lift, str(good), "-o", str(ws / "o1.npz"), *m, "--threshold", v],
                   outputs=[ws / "o1.npz"]) for v in ("2", "nan", "-1", "inf")]

    train = [*py, "train", "--quiet", "-o"]
    bad_cfg = {"batch0": {"batch_size": 0}, "window0": {"window": 0},
               "channels-1": {"model": {"tcn": {"channels": -1}}},
               "kernel0": {"model": {"tcn": {"kernel": 0}}}, "kernel4": {"model": {"tcn": {"kernel": 4}}},
               "threads-1": {"threads": -1}, "fps0": {"model": {"fps": 0}}, "lr_nan": {"lr": float("nan")},
               "dropout1.5": {"model": {"tcn": {"dropout": 1.5}}}, "unknown_key": {"stepz": 3},
               "steps_text": {"steps": "many"}, "subjects_unknown": {"subjects": ["S99"]},
               "occluder_prob2": {"augment": {"occluder": {"prob": 2}}}, "distance_order": {"augment": {
                   "min_distance": 9.0, "max_distance": 3.0}}}
    for k, v in bad_cfg.items():
        path = ws / f"cfg_{k}.yaml"
        path.write_text(yaml.safe_dump(v))
        cases.append(Case(f"train config {k}", [*train, str(ws / f"r_{k}"), "--config", str(path)],
                          outputs=[ws / f"r_{k}"]))
    r = ws / "r_new"
    cases += [
        Case("train --steps 0", [*train, str(r), "--steps", "0"], outputs=[r]),
        Case("train --steps -5", [*train, str(r), "--steps", "-5"], outputs=[r]),
        Case("train config missing", [*train, str(r), "--config", str(ws / "none.yaml")], outputs=[r]),
        Case("train config garbage", [*train, str(r), "--config", str(ws / "garbage.yaml")], outputs=[r]),
        Case("train config a list", [*train, str(r), "--config", str(ws / "list.yaml")], outputs=[r]),
        Case("train -o a file", [*train, str(ws / "a_file"), "--steps", "1"], protect=[ws / "a_file"]),
        Case("train -o ''", [*train, "", "--steps", "1"]),
        Case("train used folder", [*train, str(run), "--config", str(tiny_cfg)], protect=[run / "final.pt",
                                                                                         run / "log.csv"]),
        Case("train --resume poisoned", [*train, str(resume_evil), "--config", str(tiny_cfg), "--resume"],
             protect=[resume_evil / "config.yaml"]),
        Case("train --resume other config", [*train, str(run), "--config", str(other_cfg), "--resume"],
             protect=[run / "config.yaml", run / "last.pt", run / "log.csv"]),
        Case("train --data missing", [*train, str(r), "--steps", "1", "--data", str(ws / "none.npz")], outputs=[r]),
        Case("train --data text", [*train, str(r), "--steps", "1", "--data", str(ws / "text.npz")], outputs=[r]),
        Case("train --device banana", [*train, str(r), "--steps", "1", "--device", "banana"], outputs=[r]),
        Case("train --device cuda", [*train, str(r), "--steps", "1", "--device", "cuda"], outputs=[r]),
    ]

    ev = [*py, "evaluate"]
    cases += [
        Case("evaluate missing", [*ev, str(ws / "none.pt")]),
        Case("evaluate poisoned", [*ev, str(evil)]),
        Case("evaluate text", [*ev, str(ws / "text.pt")]),
        Case("evaluate --views 0", [*ev, str(ckpt), "--views", "0"]),
        Case("evaluate --h36m pickle", [*ev, str(ckpt), "--h36m", str(h36m_dir)]),
        Case("evaluate --h36m empty folder", [*ev, str(ckpt), "--h36m", str(out)]),
        Case("evaluate --json existing", [*ev, str(ckpt), "--views", "1", "--json", str(precious / "res.json")],
             protect=[precious / "res.json"]),
        Case("evaluate --device banana", [*ev, str(ckpt), "--device", "banana"]),
        Case("evaluate --data missing", [*ev, str(ckpt), "--data", str(ws / "none.npz")]),
    ]

    videos = {}
    for w, h in ((1, 1), (2, 2), (160, 96), (63, 37)):
        frames = street_frames(6, (w, h)) if w >= 32 else [np.full((h, w, 3), 40 * i, np.uint8) for i in range(6)]
        videos[f"{w}x{h}"] = make_video(ws / f"v{w}x{h}.mkv", frames)
    blank = make_video(ws / "blank.mp4", [np.zeros((64, 64, 3), np.uint8)] * 8)
    short = make_video(ws / "short.mp4", street_frames(3))
    cut = ws / "cut.mp4"
    cut.write_bytes(EXAMPLE.read_bytes()[:200_000])
    rv = [*py, "run", "--quiet", "--no-render"]
    o = ws / "run_out"
    cases += [Case(f"run {k} video", [*rv, str(v), "-o", str(o / k)], "ok|none") for k, v in videos.items()]
    cases += [
        Case("run 3-frame video", [*rv, str(short), "-o", str(o / "short")], "ok"),
        Case("run missing video", [*rv, str(ws / "none.mp4"), "-o", str(o / "x")], outputs=[o / "x"]),
        Case("run folder", [*rv, str(ws), "-o", str(o / "x")], outputs=[o / "x"]),
        Case("run text file", [*rv, str(ws / "text.mp4"), "-o", str(o / "x")], outputs=[o / "x"]),
        Case("run empty file", [*rv, str(ws / "empty.mp4"), "-o", str(o / "x")], outputs=[o / "x"]),
        Case("run truncated (index lost)", [*rv, str(cut), "-o", str(o / "x")], outputs=[o / "x"]),
        Case("run blank video", [*rv, str(blank), "-o", str(o / "x")], "none", outputs=[o / "x"]),
        Case("run -o a file", [*rv, str(short), "-o", str(ws / "a_file")], protect=[ws / "a_file"]),
        Case("run -o ''", [*rv, str(short), "-o", ""]),
        Case("run -o earlier results", [*rv, str(short), "-o", str(old_run)], protect=[old_run / "poses3d.npz"]),
        Case("run --model poisoned", [*rv, str(short), "-o", str(o / "x"), "--model", str(evil)], outputs=[o / "x"]),
        Case("run --weights poisoned", [*rv, str(short), "-o", str(o / "x"), "--backend", "hourglass", "--weights",
                                        str(evil_hg)], outputs=[o / "x"]),
        Case("run hourglass without weights", [*rv, str(short), "-o", str(o / "x"), "--backend", "hourglass"],
             outputs=[o / "x"]),
        Case("run --device banana", [*rv, str(short), "-o", str(o / "x"), "--device", "banana"], outputs=[o / "x"]),
        Case("run --device cuda", [*rv, str(short), "-o", str(o / "x"), "--device", "cuda"], outputs=[o / "x"]),
    ]
    for opt, val in (("--threshold", "2"), ("--threshold", "nan"), ("--sigma", "0"), ("--sigma", "nan"),
                     ("--detect-every", "0"), ("--max-people", "-1"), ("--start", "-1"), ("--end", "nan"),
                     ("--start", "500"), ("--threads", "0")):
        cases.append(Case(f"run {opt} {val}", [*rv, str(short), "-o", str(o / "x"), opt, val], outputs=[o / "x"]))
    cases.append(Case("run --end before --start", [*rv, str(short), "-o", str(o / "x"), "--start", "2", "--end", "1"],
                      outputs=[o / "x"]))

    cy = [*py, "cylinder-demo"]
    cases += [
        Case("cylinder-demo -o d2 (d2.png exists)", [*cy, "-o", str(precious / "d2")], protect=[precious / "d2.png"]),
        Case("cylinder-demo -o ''", [*cy, "-o", ""]),
        Case("cylinder-demo frame -1", [*cy, "-o", str(ws / "c.png"), "--frame", "-1"], outputs=[ws / "c.png"]),
        Case("cylinder-demo frame huge", [*cy, "-o", str(ws / "c.png"), "--frame", "99999"], outputs=[ws / "c.png"]),
        Case("cylinder-demo unknown clip", [*cy, "-o", str(ws / "c.png"), "--clip", "S99/x"], outputs=[ws / "c.png"]),
        Case("cylinder-demo --data missing", [*cy, "-o", str(ws / "c.png"), "--data", str(ws / "n.npz")],
             outputs=[ws / "c.png"]),
    ]

    hgc = [*py, "hourglass"]
    ht = [*hgc, "train", "--synthetic", "--quiet", "-o"]
    cases += [
        Case("hourglass train --steps 0", [*ht, str(ws / "h1"), "--steps", "0"], outputs=[ws / "h1"]),
        Case("hourglass train --input-size 30", [*ht, str(ws / "h1"), "--input-size", "30"], outputs=[ws / "h1"]),
        Case("hourglass train --stacks 0", [*ht, str(ws / "h1"), "--stacks", "0"], outputs=[ws / "h1"]),
        Case("hourglass train -o a file", [*ht, str(ws / "a_file"), "--steps", "1"], protect=[ws / "a_file"]),
        Case("hourglass train no data", [*hgc, "train", "-o", str(ws / "h1")], outputs=[ws / "h1"]),
        Case("hourglass evaluate missing", [*hgc, "evaluate", str(ws / "none.pt"), "--synthetic"]),
        Case("hourglass evaluate poisoned", [*hgc, "evaluate", str(evil_hg), "--synthetic", "--count", "2"]),
        Case("hourglass evaluate lifter", [*hgc, "evaluate", str(ckpt), "--synthetic", "--count", "2"]),
        Case("hourglass evaluate --count 0", [*hgc, "evaluate", str(hg), "--synthetic", "--count", "0"]),
        Case("hourglass evaluate --figure existing", [*hgc, "evaluate", str(hg), "--synthetic", "--count", "2",
                                                      "--figure", str(precious / "fig.png")],
             protect=[precious / "fig.png"]),
        Case("hourglass export poisoned", [*hgc, "export", str(evil_hg), "-o", str(ws / "m.onnx")],
             outputs=[ws / "m.onnx"]),
        Case("hourglass export over model.onnx", [*hgc, "export", str(hg), "-o", str(precious / "model")],
             protect=[precious / "model.onnx"]),
    ]
    return cases


def classify(case: Case, before: dict[Path, bytes | None], marker: Path, proc: subprocess.CompletedProcess
             ) -> list[str]:
    """The defects this run showed (empty: clean)."""
    rc, err = proc.returncode, proc.stderr
    bad = []
    if rc < 0 or rc in (134, 139):
        bad.append(f"native crash ({rc})")
    if "Traceback" in err:
        bad.append("traceback")
    expected = {"error": {2}, "none": {3}, "ok": {0}, "ok|none": {0, 3}}[case.expect]
    if rc not in expected and not bad:
        bad.append("silent success" if rc == 0 else f"exit {rc}, expected {sorted(expected)}")
    if rc != 0 and len([ln for ln in err.splitlines() if "warning" not in ln]) != 1:
        bad.append("unclear error")
    if case.says and case.says not in err:
        bad.append(f"wrong reason (expected {case.says!r})")
    for p, b in before.items():
        now = p.read_bytes() if p.exists() else None
        if now != b:
            bad.append(f"{p.name} replaced")
    if rc != 0:
        bad += [f"{p.name} left behind" for p in case.outputs if p.exists()]
    if marker.exists():
        bad.append("CODE RAN")
    return bad


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", help="comma-separated commands (lift, train, evaluate, run, cylinder-demo, hourglass)")
    ap.add_argument("--keep", help="build the inputs in this folder and keep it")
    args = ap.parse_args()
    ws = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="occlupose-sweep-"))
    ws.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    cases = build(ws)
    if args.only:
        cases = [c for c in cases if c.name.split()[0] in args.only.split(",")]
    marker = ws / "PWNED"
    protected = {p: p.read_bytes() for c in cases for p in c.protect}
    for c in cases:
        for p in c.outputs:
            assert not p.exists(), f"sweep set-up: {p} exists before {c.name}"

    def go(case: Case) -> tuple[Case, subprocess.CompletedProcess]:
        return case, subprocess.run(case.argv, capture_output=True, text=True, timeout=600)

    rows = []
    with ThreadPoolExecutor(args.jobs) as pool:
        for case, proc in pool.map(go, cases):
            bad = classify(case, {p: protected[p] for p in case.protect}, marker, proc)
            msg = (proc.stderr.strip().splitlines() or [""])[-1][:90]
            rows.append((case.name, proc.returncode, ", ".join(bad) or "clean", msg))
            for p in case.outputs:  # a later case may reuse the name
                shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    print("| case | exit | verdict | last line of stderr |\n|---|---|---|---|")
    for name, rc, verdict, msg in rows:
        print(f"| {name} | {rc} | {verdict} | {msg.replace('|', '/')} |")
    kinds = ["traceback", "native crash", "unclear error", "silent success", "wrong reason", "replaced", "left behind",
             "CODE RAN"]
    counts = {k: sum(k in v for _, _, v, _ in rows) for k in kinds}
    print(f"\n{len(rows)} cases in {time.time() - t0:.0f} s: {sum(v == 'clean' for _, _, v, _ in rows)} clean; "
          + ", ".join(f"{k}: {n}" for k, n in counts.items()))
    print("rerun: python benchmarks/bad_input_sweep.py" + (f" --only {args.only}" if args.only else ""))
    if not args.keep:
        shutil.rmtree(ws, ignore_errors=True)
    sys.exit(1 if any(counts.values()) else 0)


if __name__ == "__main__":
    main()
