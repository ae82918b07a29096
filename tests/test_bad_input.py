"""Bad input, as a careless user or an attacker gives it: every case ends in one clear line and a non-zero exit
(or a correct result), never a traceback, a native crash, a silent wrong success, a lost file or code run
from a data file. Every input is built here."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch
import yaml
from badfiles import EXAMPLE, ROOT, Payload, make_video, poisoned, street_frames, write_input

from occlupose.cli import main
from occlupose.data import save_input_2d


def one_line_error(capsys, rc: int, expected: int = 2, *words: str) -> str:
    err = capsys.readouterr().err
    assert rc == expected, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    for w in words:
        assert w in err, err
    return err


# --- security: no code runs from a checkpoint or a data file ---------------------------------------------------


@pytest.fixture(scope="module")
def tiny_hourglass(tmp_path_factory):
    from occlupose.hourglass import HourglassConfig, StackedHourglass, save_hourglass

    path = tmp_path_factory.mktemp("hg") / "final.pt"
    save_hourglass(path, StackedHourglass(HourglassConfig(stacks=1, features=8, depth=1, input_size=16)))
    return path


def test_shipped_and_trained_checkpoints_load_as_plain_data(tiny_checkpoint, tiny_hourglass):
    from occlupose.lifter import DEFAULT_WEIGHTS

    for path in (ROOT / "src/occlupose/weights" / DEFAULT_WEIGHTS, tiny_checkpoint, tiny_checkpoint.parent / "last.pt",
                 tiny_hourglass):
        ck = torch.load(path, weights_only=True)  # raises if anything but tensors and plain data is inside
        assert ck["format"].startswith("occlupose-")


@pytest.mark.parametrize("command", ["lift", "evaluate", "run", "run-hourglass", "hourglass-evaluate",
                                     "hourglass-export", "train-resume"])
def test_a_checkpoint_cannot_run_code(command, tmp_path, tiny_checkpoint, tiny_hourglass, capsys):
    marker = tmp_path / "pwned"
    bad_lifter = poisoned(tiny_checkpoint, tmp_path / "evil.pt", marker)
    bad_hg = poisoned(tiny_hourglass, tmp_path / "evil_hg.pt", marker)
    inp = write_input(tmp_path / "in.npz")
    args = {
        "lift": ["lift", str(inp), "-o", str(tmp_path / "o.npz"), "--model", str(bad_lifter)],
        "evaluate": ["evaluate", str(bad_lifter), "--views", "1"],
        "run": ["run", str(EXAMPLE), "-o", str(tmp_path / "r"), "--model", str(bad_lifter), "--quiet"],
        "run-hourglass": ["run", str(EXAMPLE), "-o", str(tmp_path / "r"), "--backend", "hourglass", "--weights",
                          str(bad_hg), "--quiet", "--end", "0.3"],
        "hourglass-evaluate": ["hourglass", "evaluate", str(bad_hg), "--synthetic", "--count", "2"],
        "hourglass-export": ["hourglass", "export", str(bad_hg), "-o", str(tmp_path / "x.onnx")],
    }.get(command)
    if command == "train-resume":
        run = tmp_path / "run"
        run.mkdir()
        cfg = torch.load(tiny_checkpoint, weights_only=True)["config"]
        (run / "config.yaml").write_text(yaml.safe_dump(cfg))
        poisoned(tiny_checkpoint.parent / "last.pt", run / "last.pt", marker)
        args = ["train", "--config", str(run / "config.yaml"), "-o", str(run), "--resume", "--quiet"]
    one_line_error(capsys, main(args), 2, "refused")
    assert not marker.exists()


def test_h36m_pickles_are_read_only_when_trusted(tmp_path, tiny_checkpoint, capsys):
    marker = tmp_path / "pwned"
    np.savez(tmp_path / "data_3d_h36m.npz", positions_3d=np.array([Payload(marker)], dtype=object))
    one_line_error(capsys, main(["evaluate", str(tiny_checkpoint), "--h36m", str(tmp_path)]), 2, "--allow-pickle")
    assert not marker.exists()
    # a 2D input file is never unpickled, flag or not
    np.savez(tmp_path / "in.npz", keypoints=np.array([Payload(marker)], dtype=object), scores=np.ones((3, 17)),
             width=640, height=480, fps=30.0)
    rc = main(["lift", str(tmp_path / "in.npz"), "-o", str(tmp_path / "o.npz"), "--model", str(tiny_checkpoint)])
    one_line_error(capsys, rc, 2, "pickled")
    assert not marker.exists()


# --- crashes: any frame size, any config value ---------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess:
    """The real command in a process of its own: a native crash shows as a negative exit code here."""
    return subprocess.run([sys.executable, "-m", "occlupose", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")})


@pytest.mark.parametrize("size", [(160, 96), (2, 2), (1, 1), (63, 37)])
def test_any_frame_size_runs_or_fails_in_one_line(size, tmp_path):
    pytest.importorskip("av")
    w, h = size
    frames = street_frames(6, (w, h)) if w >= 32 else [np.full((h, w, 3), 40 * i, np.uint8) for i in range(6)]
    video = make_video(tmp_path / f"v{w}x{h}.mkv", frames)
    out = tmp_path / "out"
    r = cli("run", str(video), "-o", str(out), "--quiet")
    assert r.returncode in (0, 3), (r.returncode, r.stderr)  # 3: no person found; never a crash (139, 134)
    assert "Traceback" not in r.stderr and r.stderr.count("\n") <= 1, r.stderr
    assert out.exists() == (r.returncode == 0)


def test_tiny_frames_with_a_person_are_lifted_and_rendered(tmp_path):
    """A 2x2 video where a (scripted) person is found: 2D, flow, lifting and render.mp4 all cope."""
    from occlupose.lifter import load_checkpoint
    from occlupose.pipeline import RunConfig, run_video
    from occlupose.render import render_run
    from occlupose.video import probe

    video = make_video(tmp_path / "tiny.mkv", [np.full((2, 2, 3), 9 * i, np.uint8) for i in range(8)])
    result = run_video(video, load_checkpoint().model, RunConfig(), detector=FixedDetector(),
                       backend=FixedBackend(), progress=False)
    assert len(result.tracks) == 1 and np.isfinite(result.tracks[0].poses_3d).all()
    render_run(video, result, tmp_path / "render.mp4", progress=False)
    assert probe(tmp_path / "render.mp4").frame_count == 8


@pytest.mark.parametrize("change", [{"batch_size": 0}, {"window": 0}, {"model": {"tcn": {"channels": -1}}},
                                    {"model": {"tcn": {"kernel": 0}}}, {"threads": -1}, {"steps": 0},
                                    {"steps": -5}, {"model": {"fps": 0}}, {"lr": float("nan")},
                                    {"augment": {"occluder": {"prob": 2}}}, {"model": {"tcn": {"dropout": 1.5}}}])
def test_train_rejects_out_of_range_config_values_before_writing(change, tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(change))
    run = tmp_path / "run"
    one_line_error(capsys, main(["train", "--config", str(cfg), "-o", str(run), "--quiet"]), 2, "must be")
    assert not run.exists()  # nothing left behind


def test_train_steps_flag_and_output_checks(tmp_path, capsys):
    for steps in ("0", "-5"):
        one_line_error(capsys, main(["train", "--steps", steps, "-o", str(tmp_path / "r"), "--quiet"]), 2, "steps")
    afile = tmp_path / "a_file"
    afile.write_text("mine")
    one_line_error(capsys, main(["train", "--steps", "1", "-o", str(afile), "--quiet"]), 2, "not a folder")
    assert afile.read_text() == "mine"
    one_line_error(capsys, main(["train", "--steps", "1", "-o", "", "--quiet"]), 2, "empty")
    assert not (tmp_path / "r").exists()


def test_lift_rejects_malformed_arrays(tmp_path, tiny_checkpoint, capsys):
    out = tmp_path / "o.npz"
    cases = {
        "width as an array": write_input(tmp_path / "w.npz", width=np.array([640, 480])),
        "fps as text": write_input(tmp_path / "f.npz", fps=np.array("thirty")),
        "keypoints as text": write_input(tmp_path / "k.npz", keypoints=np.full((4, 17, 2), "x")),
        "layout as numbers": write_input(tmp_path / "l.npz", layout=np.arange(3)),
    }
    npy = tmp_path / "renamed.npz"
    with open(npy, "wb") as f:
        np.save(f, np.zeros((4, 17, 2)))
    cases["a .npy renamed"] = npy
    for what, path in cases.items():
        rc = main(["lift", str(path), "-o", str(out), "--model", str(tiny_checkpoint)])
        err = one_line_error(capsys, rc, 2, path.name)
        assert not out.exists(), (what, err)


# --- nothing lost, nothing mixed -------------------------------------------------------------------------------


def test_outputs_are_checked_under_the_name_actually_written(tmp_path, tiny_checkpoint, capsys):
    src = write_input(tmp_path / "a.npz")
    (tmp_path / "x.npz").write_bytes(b"precious")
    rc = main(["lift", str(src), "-o", str(tmp_path / "x"), "--model", str(tiny_checkpoint)])
    one_line_error(capsys, rc, 2, "--overwrite")
    assert (tmp_path / "x.npz").read_bytes() == b"precious"
    (tmp_path / "d2.png").write_bytes(b"precious")
    one_line_error(capsys, main(["cylinder-demo", "-o", str(tmp_path / "d2")]), 2, "--overwrite")
    assert (tmp_path / "d2.png").read_bytes() == b"precious"
    for command in (["lift", str(src), "--model", str(tiny_checkpoint)], ["cylinder-demo"]):
        one_line_error(capsys, main([*command, "-o", ""]), 2, "empty")


def test_concurrent_writers_of_one_file_lose_nothing(tmp_path, tiny_checkpoint):
    srcs = [write_input(tmp_path / f"in{i}.npz", seed=i) for i in range(6)]
    out = tmp_path / "same.npz"
    codes = [None] * 6

    def go(i):
        codes[i] = main(["lift", str(srcs[i]), "-o", str(out), "--model", str(tiny_checkpoint)])

    threads = [threading.Thread(target=go, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [0, 2, 2, 2, 2, 2]  # one wins; the others are told, none silently lost
    winner = codes.index(0)
    z = np.load(out)
    np.testing.assert_allclose(z["keypoints_2d"], np.load(srcs[winner])["keypoints"], rtol=1e-6)
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []  # no temporary files left


def test_refused_resume_changes_nothing(tmp_path, tiny_checkpoint, capsys):
    run = tmp_path / "run"
    run.mkdir()
    for name in ("config.yaml", "last.pt", "log.csv"):
        (run / name).write_bytes((tiny_checkpoint.parent / name).read_bytes())
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    other = yaml.safe_load((run / "config.yaml").read_text())
    other["seed"] = 99
    (tmp_path / "other.yaml").write_text(yaml.safe_dump(other))
    rc = main(["train", "--config", str(tmp_path / "other.yaml"), "-o", str(run), "--resume", "--quiet"])
    one_line_error(capsys, rc, 2, "different config")
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before


def test_train_overwrite_starts_a_clean_run_folder(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"steps": 2, "batch_size": 2, "window": 16, "log_every": 1,
                                   "model": {"tcn": {"channels": 8}}}))
    run = tmp_path / "run"
    assert main(["train", "--config", str(cfg), "-o", str(run), "--quiet"]) == 0
    (run / "my_notes.txt").write_text("mine")
    one_line_error(capsys, main(["train", "--config", str(cfg), "-o", str(run), "--quiet"]), 2, "--overwrite")
    assert main(["train", "--config", str(cfg), "-o", str(run), "--quiet", "--overwrite"]) == 0
    log = (run / "log.csv").read_text().splitlines()
    assert len(log) == 3 and log[0].startswith("step,") and not any(r.startswith("step,") for r in log[1:])
    assert (run / "my_notes.txt").read_text() == "mine"  # files that are not the run's are never touched


class FixedDetector:
    """One person box in the middle of any frame."""

    def __call__(self, frame):
        h, w = frame.shape[:2]
        return np.array([[0.25 * w, 0.1 * h, 0.75 * w, 0.9 * h]]), np.ones(1)


class FixedBackend:
    """A standing person (H36M layout) filling the region, confidence 0.9: the pipeline's plumbing alone."""

    layout = "h36m"
    shape = np.array([[0, 0], [-0.1, 0], [-0.1, 0.22], [-0.1, 0.44], [0.1, 0], [0.1, 0.22], [0.1, 0.44],
                      [0, -0.12], [0, -0.25], [0, -0.3], [0, -0.38], [0.12, -0.25], [0.16, -0.12], [0.18, 0],
                      [-0.12, -0.25], [-0.16, -0.12], [-0.18, 0]])

    def estimate(self, frame, rois):
        from occlupose.pose2d import Pose2D

        kp = rois[:, None, :2] + self.shape[None] * rois[:, None, 2:3]
        n = len(rois)
        return Pose2D(kp, np.full((n, 17), 0.9), np.ones(n), np.asarray(rois, float))


def test_run_overwrite_replaces_the_whole_result(tmp_path, capsys):
    pytest.importorskip("av")
    out = tmp_path / "out"
    out.mkdir()
    stale = ["track3.bvh", "track8.bvh", "render.mp4", "poses3d.csv"]
    for name in stale:
        (out / name).write_text("old")
    (out / "keep_me.txt").write_text("user's")
    video = make_video(tmp_path / "short.mp4", street_frames(8))
    args = ["run", str(video), "-o", str(out), "--quiet", "--no-render", "--max-people", "1"]
    one_line_error(capsys, main(args), 2, "--overwrite")
    assert (out / "track3.bvh").read_text() == "old"
    assert main([*args, "--overwrite"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["keep_me.txt", "poses3d.csv", "poses3d.json", "poses3d.npz", "track0.bvh"], names
    assert (out / "poses3d.csv").read_text() != "old"


def test_a_failed_run_leaves_nothing(tmp_path, capsys):
    out = tmp_path / "deep" / "out"
    blank = make_video(tmp_path / "blank.mp4", [np.zeros((64, 64, 3), np.uint8)] * 6)
    for args in (["run", str(tmp_path / "missing.mp4")], ["run", str(blank)],
                 ["run", str(EXAMPLE), "--threshold", "2"], ["run", str(EXAMPLE), "--device", "banana"],
                 ["run", str(EXAMPLE), "--model", str(tmp_path / "none.pt")]):
        rc = main([*args, "-o", str(out), "--quiet"])
        capsys.readouterr()
        assert rc in (2, 3) and not (tmp_path / "deep").exists(), args
    assert [p.name for p in tmp_path.iterdir()] == ["blank.mp4"]  # no staging folder left either


# --- silently wrong ---------------------------------------------------------------------------------------


def test_variable_frame_rate_video_keeps_its_timing(tmp_path):
    """20 fps for a second, then 60 fps for half a second, in a container with a 1 ms time base: the frames'
    own times drive the lifter, the outputs and the render, not the container's average rate."""
    from occlupose.lifter import load_checkpoint
    from occlupose.outputs import constant_rate
    from occlupose.pipeline import RunConfig, run_video
    from occlupose.render import render_run
    from occlupose.video import probe, read_frames

    times = np.concatenate([np.arange(20) / 20, 1 + np.arange(1, 31) / 60])
    rng = np.random.default_rng(0)
    video = make_video(tmp_path / "vfr.mp4", [rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)] * 50, list(times))
    result = run_video(video, load_checkpoint().model, RunConfig(), detector=FixedDetector(),
                       backend=FixedBackend(), progress=False)
    np.testing.assert_allclose(result.times, times, atol=1e-3)
    track = result.tracks[0]
    np.testing.assert_allclose(track.times, times, atol=1e-3)
    assert result.fps == pytest.approx(60, rel=0.05)  # the median interval, not a container's guess
    bvh_poses = constant_rate(track, result.fps)  # BVH has one frame time: resampled over the true 1.5 s
    assert len(bvh_poses) == pytest.approx(1.5 * result.fps, abs=2)
    render_run(video, result, tmp_path / "render.mp4", progress=False)
    out_times = [t for _, t, _ in read_frames(tmp_path / "render.mp4")]
    assert len(out_times) == 50 and out_times[-1] == pytest.approx(times[-1], abs=0.01)
    assert probe(tmp_path / "render.mp4").width == 128 + 96


def test_lift_uses_frame_times():
    """A mocap walk seen at irregular times lifts like the same walk at the model's rate; treating the
    frames as evenly spaced (the old average-rate guess) does not."""
    from occlupose.data import bundled_mocap, load_mocap
    from occlupose.lifter import lift, load_checkpoint

    clip = load_mocap(bundled_mocap()).clips["S06/06_01"][:150].astype(np.float64)
    kp = np.stack([clip[..., 0], -clip[..., 2]], -1) * 500 + 400  # a front view in pixels
    rel = np.ones(kp.shape[:2], bool)
    model = load_checkpoint().model
    full = lift(model, kp, rel, 50.0)
    idx = np.concatenate([np.arange(0, 60), np.arange(60, 150, 3)])
    timed = lift(model, kp[idx], rel[idx], times=idx / 50.0)
    guessed = lift(model, kp[idx], rel[idx], 50.0)
    err_timed = np.linalg.norm(timed - full[idx], axis=-1).mean()
    err_guessed = np.linalg.norm(guessed - full[idx], axis=-1).mean()
    assert err_timed < 0.5 * err_guessed and err_timed < 0.03


@pytest.mark.parametrize("threshold", ["2", "nan", "-1", "inf"])
def test_lift_threshold_range(threshold, tmp_path, tiny_checkpoint, capsys):
    src = write_input(tmp_path / "a.npz")
    rc = main(["lift", str(src), "-o", str(tmp_path / "o.npz"), "--model", str(tiny_checkpoint), "--threshold",
               threshold])
    one_line_error(capsys, rc, 2, "threshold")
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.parametrize("case", ["all_missing", "all_at_origin", "one_point"])
def test_lift_refuses_inputs_with_no_person(case, tmp_path, tiny_checkpoint, capsys):
    kp = {"all_missing": np.random.default_rng(0).uniform(0, 500, (20, 17, 2)),
          "all_at_origin": np.zeros((20, 17, 2)), "one_point": np.full((20, 17, 2), 123.0)}[case]
    scores = np.zeros((20, 17)) if case == "all_missing" else np.ones((20, 17))
    src = tmp_path / "a.npz"
    save_input_2d(src, kp, scores, 640, 480, 30.0)
    rc = main(["lift", str(src), "-o", str(tmp_path / "o.npz"), "--model", str(tiny_checkpoint)])
    one_line_error(capsys, rc, 2, "nothing to lift")
    assert not (tmp_path / "o.npz").exists()


def test_frames_at_one_point_are_treated_as_missing(tiny_checkpoint):
    from occlupose.lifter import lift, load_checkpoint, usable_keypoints

    kp = np.random.default_rng(0).uniform(100, 300, (10, 17, 2))
    kp[3] = 0.0  # a tool's "nobody here" frame
    rel = usable_keypoints(kp, np.ones((10, 17), bool))
    assert not rel[3].any() and rel[np.arange(10) != 3].all()
    assert np.isfinite(lift(load_checkpoint(tiny_checkpoint).model, kp, np.ones((10, 17), bool), 30.0)).all()


def test_devices_are_named_in_the_message(tmp_path, tiny_checkpoint, capsys):
    src = write_input(tmp_path / "a.npz")
    for device, words in (("banana", "unknown device"), ("cuda:7" if torch.cuda.is_available() else "cuda", "GPU")):
        rc = main(["lift", str(src), "-o", str(tmp_path / "o.npz"), "--model", str(tiny_checkpoint), "--device",
                   device])
        err = one_line_error(capsys, rc, 2, words)
        assert "checkpoint" not in err
        rc = main(["train", "--steps", "1", "-o", str(tmp_path / "r"), "--device", device, "--quiet"])
        one_line_error(capsys, rc, 2, words)
    assert not (tmp_path / "r").exists()


def test_very_short_videos_with_people_are_lifted(tmp_path, capsys):
    pytest.importorskip("av")
    video = make_video(tmp_path / "three.mp4", street_frames(3))
    out = tmp_path / "out"
    assert main(["run", str(video), "-o", str(out), "--quiet", "--no-render"]) == 0
    z = np.load(out / "poses3d.npz")
    assert len(z["track_ids"]) >= 1 and all(len(z[f"track{i}_frames"]) == 3 for i in z["track_ids"])


def test_truncated_video_is_processed_with_a_warning(tmp_path, capsys):
    import av

    fast = tmp_path / "fast.mp4"  # moov first, as phones and web tools write it, so a cut file still opens
    with av.open(str(EXAMPLE)) as src, av.open(str(fast), "w", options={"movflags": "faststart"}) as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    data = fast.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 3])
    rc = main(["run", str(cut), "-o", str(tmp_path / "out"), "--quiet", "--no-render", "--max-people", "1",
               "--detect-every", "30"])
    err = capsys.readouterr().err
    assert rc == 0 and "truncated" in err and "Traceback" not in err


def test_quiet_run_prints_nothing_on_stderr(tmp_path):
    pytest.importorskip("av")
    video = make_video(tmp_path / "v.mp4", street_frames(5))
    r = cli("run", str(video), "-o", str(tmp_path / "out"), "--quiet", "--no-render")
    assert r.returncode == 0 and r.stderr == "", r.stderr  # no TF Lite banner either


@pytest.mark.parametrize("tiles", ["0.5", "-1", "nan"])
def test_run_refuses_detector_tiles_out_of_range(tiles, tmp_path, capsys):
    rc = main(["run", str(EXAMPLE), "-o", str(tmp_path / "r"), "--quiet", "--detect-tiles", tiles])
    one_line_error(capsys, rc, 2, "detect_tiles")
    assert not (tmp_path / "r").exists()
