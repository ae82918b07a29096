"""``occlupose run`` over many videos: one output folder each, several at once, resumable, and one bad file
never stops the rest.

Each video runs as the single-video command would (``occlupose run VIDEO -o OUT/NAME``) in its own process
when ``--jobs`` > 1. A video counts as finished when its folder holds ``poses3d.npz``, or when the batch's
summary (``OUT/batch_summary.csv``, rewritten after every video) says nobody was found in that same file (same
size and modification time); finished videos are skipped unless ``--overwrite``.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import io
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from multiprocessing import get_context
from pathlib import Path

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".ts")
SUMMARY = "batch_summary.csv"
#: the message of a skipped video; one found empty before says so, so that later reruns skip it too
EARLIER, EARLIER_NOBODY = "finished earlier", "finished earlier: nobody in it"


@dataclass
class Outcome:
    video: str
    output: str
    status: str  # done | no person | failed | skipped
    people: int = 0
    frames: int = 0
    seconds: float = 0.0
    size: int = 0
    mtime_ns: int = 0
    message: str = ""


def find_videos(patterns: list[str]) -> list[Path]:
    """Videos named by paths, folders (their videos, not recursing) and glob patterns, in order, once each."""
    found: list[Path] = []
    for pat in patterns:
        p = Path(pat)
        if p.is_dir():
            found += sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() in VIDEO_SUFFIXES)
        elif any(c in pat for c in "*?["):
            found += sorted(Path(q) for q in glob.glob(pat, recursive=True)
                            if Path(q).is_file() and Path(q).suffix.lower() in VIDEO_SUFFIXES)
        else:
            found.append(p)  # a missing or unreadable file fails on its own, in the summary
    seen, out = set(), []
    for v in found:
        key = os.path.abspath(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
    return out


def output_names(videos: list[Path]) -> list[str]:
    """One folder name per video: its stem, with the suffix added where two stems collide."""
    stems = [v.stem for v in videos]
    names = [s if stems.count(s) == 1 else f"{s}_{v.suffix.lstrip('.').lower()}" for s, v in zip(stems, videos)]
    if len(set(names)) != len(names):  # the same name in two folders
        names = [f"{n}_{i}" for i, n in enumerate(names)]
    return names


def _stamp(video: Path) -> tuple[int, int]:
    try:
        st = video.stat()
        return st.st_size, st.st_mtime_ns
    except OSError:
        return 0, 0


def read_summary(out: Path) -> dict[str, Outcome]:
    path = out / SUMMARY
    if not path.is_file():
        return {}
    try:
        with path.open(newline="") as f:
            rows = list(csv.DictReader(f))
        return {r["video"]: Outcome(r["video"], r["output"], r["status"], int(r["people"]), int(r["frames"]),
                                    float(r["seconds"]), int(r["size"]), int(r["mtime_ns"]), r["message"])
                for r in rows}
    except (KeyError, ValueError, csv.Error):
        return {}  # an unreadable summary only means nothing is known to be finished


def write_summary(out: Path, outcomes: list[Outcome]) -> None:
    tmp = out / f".{SUMMARY}.partial"
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(asdict(outcomes[0])) if outcomes else ["video"])
        w.writeheader()
        for o in outcomes:
            w.writerow(asdict(o))
    os.replace(tmp, out / SUMMARY)


def _nobody(before: Outcome) -> bool:
    """The summary says nobody was found in this video (in the run that ran it, or a rerun that skipped it)."""
    return before.status == "no person" or (before.status == "skipped" and before.message == EARLIER_NOBODY)


def finished(video: Path, folder: Path, before: Outcome | None) -> bool:
    if (folder / "poses3d.npz").is_file():
        return True
    return before is not None and _nobody(before) and (before.size, before.mtime_ns) == _stamp(video)


def run_one(video: str, folder: str, argv: list[str]) -> Outcome:
    """One video through the single-video command, its messages captured (runs in a worker process)."""
    from .cli import main

    size, mtime = _stamp(Path(video))
    err, out = io.StringIO(), io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            rc = main(["run", video, "-o", folder, "--quiet", *argv])
        except SystemExit as exc:  # an option the single command refuses
            rc = exc.code if isinstance(exc.code, int) else 2
    seconds = round(time.perf_counter() - t0, 1)
    said = [ln.removeprefix("occlupose: ").removeprefix("error: ") for ln in err.getvalue().splitlines()
            if ln.startswith("occlupose: ") and not ln.startswith("occlupose: warning")]
    message = (said[-1] if said else err.getvalue().strip()[-300:]) if rc else ""
    if rc == 0:
        doc = json.loads((Path(folder) / "poses3d.json").read_text())
        frames = len({f for t in doc["tracks"] for f in t["frames"]})
        return Outcome(video, folder, "done", len(doc["tracks"]), frames, seconds, size, mtime)
    return Outcome(video, folder, "no person" if rc == 3 else "failed", 0, 0, seconds, size, mtime, message)


def run_batch(patterns: list[str], out: str | os.PathLike, argv: list[str], jobs: int = 1,
              overwrite: bool = False) -> int:
    """Run every video of ``patterns`` into ``out``/NAME; print a line per video and a table at the end.
    ``argv``: the options each single run gets. Exit status 0 if every video finished (done or nobody in it),
    else 4."""
    if jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}")
    videos = find_videos(patterns)
    if not videos:
        raise FileNotFoundError(f"no video found in {' '.join(patterns)} (suffixes: {' '.join(VIDEO_SUFFIXES)})")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out}: with several videos, -o must be a folder")
    out.mkdir(parents=True, exist_ok=True)
    before = read_summary(out)
    names = output_names(videos)
    outcomes: dict[int, Outcome] = {}
    todo = []
    for i, (v, n) in enumerate(zip(videos, names)):
        old = before.get(str(v))
        if overwrite or not finished(v, out / n, old):
            todo.append(i)
        elif old is None:  # results present, but no summary row for them
            outcomes[i] = Outcome(str(v), str(out / n), "skipped", 0, 0, 0.0, *_stamp(v), EARLIER)
        else:
            outcomes[i] = replace(old, output=str(out / n), status="skipped",
                                  message=EARLIER_NOBODY if _nobody(old) else EARLIER)
    run_argv = [*argv, *(["--overwrite"] if overwrite else [])]
    print(f"{len(videos)} videos, {len(videos) - len(todo)} finished earlier, {len(todo)} to run, {jobs} at once")

    def record(i: int, o: Outcome) -> None:
        outcomes[i] = o
        k = sum(1 for j in todo if j in outcomes)
        what = (f"{o.people} people, {o.frames} frames" if o.status == "done" else o.status
                + (f": {o.message}" if o.message else ""))
        print(f"[{k}/{len(todo)}] {o.video}: {what} ({o.seconds:.0f} s)", flush=True)
        write_summary(out, [outcomes[j] for j in sorted(outcomes)])

    if jobs == 1:
        for i in todo:
            record(i, run_one(str(videos[i]), str(out / names[i]), run_argv))
    else:
        with ProcessPoolExecutor(jobs, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(run_one, str(videos[i]), str(out / names[i]), run_argv): i for i in todo}
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    o = fut.result()
                except Exception as exc:  # the worker process itself died
                    o = Outcome(str(videos[i]), str(out / names[i]), "failed", 0, 0, 0.0, *_stamp(videos[i]),
                                f"worker crashed: {type(exc).__name__}: {exc}")
                record(i, o)
    rows = [outcomes[i] for i in sorted(outcomes)]
    write_summary(out, rows)
    print("\n| video | status | people | frames | seconds | output |\n|---|---|---|---|---|---|")
    for o in rows:
        status = o.status + (f" ({o.message})" if o.message and o.status != "skipped" else "")
        print(f"| {o.video} | {status} | {o.people} | {o.frames} | {o.seconds:.1f} | {o.output} |")
    failed = sum(o.status == "failed" for o in rows)
    print(f"\n{len(rows) - failed} of {len(rows)} videos finished; summary: {out / SUMMARY}")
    return 4 if failed else 0
