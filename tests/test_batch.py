"""`occlupose run` over many videos: names, one bad file does not stop the batch, finished videos are skipped."""

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from occlupose.batch import find_videos, output_names

EXAMPLE = Path(__file__).parents[1] / "examples" / "street.mp4"


def test_find_videos_reads_folders_globs_and_lists_once(tmp_path):
    for name in ("b.mp4", "a.MOV", "notes.txt", "c.mkv"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "d.mp4").write_bytes(b"x")
    assert [p.name for p in find_videos([str(tmp_path)])] == ["a.MOV", "b.mp4", "c.mkv"]  # no recursion
    got = find_videos([str(tmp_path / "**" / "*.mp4"), str(tmp_path / "b.mp4"), str(tmp_path / "missing.avi")])
    assert [p.name for p in got] == ["b.mp4", "d.mp4", "missing.avi"]  # b once; a missing file is kept to fail


def test_output_names_are_stems_made_unique():
    assert output_names([Path("x/a.mp4"), Path("x/b.mp4")]) == ["a", "b"]
    assert output_names([Path("x/a.mp4"), Path("x/a.MOV"), Path("x/c.avi")]) == ["a_mp4", "a_mov", "c"]
    assert output_names([Path("x/a.mp4"), Path("y/a.mp4")]) == ["a_mp4_0", "a_mp4_1"]


def _summary(out):
    with (out / "batch_summary.csv").open(newline="") as f:
        return {Path(r["video"]).name: r for r in csv.DictReader(f)}


def test_batch_runs_each_video_and_resumes(tmp_path, capsys):
    pytest.importorskip("av")
    from occlupose.cli import main
    from occlupose.video import VideoWriter

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(EXAMPLE, src / "walk.mp4")
    (src / "broken.mp4").write_text("not a video\n" * 50)
    with VideoWriter(src / "empty.avi", 10.0, 160, 120) as w:  # a grey clip: nobody in it
        for _ in range(5):
            w.write(np.full((120, 160, 3), 90, np.uint8))
    out = tmp_path / "out"
    args = ["run", str(src), "-o", str(out), "--end", "0.3", "--no-render", "--max-people", "1"]
    assert main([*args, "--jobs", "2"]) == 4  # one video failed; the others still ran
    text = capsys.readouterr().out
    rows = _summary(out)
    assert rows["walk.mp4"]["status"] == "done" and int(rows["walk.mp4"]["people"]) == 1
    assert (out / "walk" / "poses3d.npz").is_file() and not (out / "walk" / "render.mp4").exists()
    assert rows["empty.avi"]["status"] == "no person"
    assert rows["broken.mp4"]["status"] == "failed" and "not a readable video" in rows["broken.mp4"]["message"]
    assert f"| {src / 'walk.mp4'} | done | 1 |" in text
    before = (out / "walk" / "poses3d.npz").stat().st_mtime_ns
    # again: only the failed one runs; the finished and the empty one are skipped and left as they are
    assert main(args) == 4
    assert "3 videos, 2 finished earlier, 1 to run" in capsys.readouterr().out
    rows = _summary(out)
    assert [rows[n]["status"] for n in ("walk.mp4", "empty.avi", "broken.mp4")] == ["skipped", "skipped", "failed"]
    assert (out / "walk" / "poses3d.npz").stat().st_mtime_ns == before
    (src / "broken.mp4").unlink()
    assert main(args) == 0
    rows = _summary(out)  # a third run still knows the empty clip is empty (its last row said "skipped")
    assert [rows[n]["status"] for n in ("walk.mp4", "empty.avi")] == ["skipped", "skipped"]


def test_jobs_need_several_videos(tmp_path, capsys):
    from occlupose.cli import main

    assert main(["run", str(EXAMPLE), "-o", str(tmp_path / "o"), "--jobs", "2"]) == 2
    assert "--jobs is for several videos" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "*.mp4"), "-o", str(tmp_path / "o")]) == 2
    assert "no video found" in capsys.readouterr().err
