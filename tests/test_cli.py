import subprocess
import sys

import numpy as np
import pytest

from occlupose import __version__
from occlupose.cli import main
from occlupose.data import save_input_2d


def run(*args):
    return subprocess.run([sys.executable, "-m", "occlupose", *args], capture_output=True, text=True, timeout=300)


def test_version_and_help():
    r = run("--version")
    assert r.returncode == 0 and __version__ in r.stdout
    r = run("--help")
    assert r.returncode == 0
    for sub in ("train", "evaluate", "lift", "cylinder-demo"):
        assert sub in r.stdout


def write_input(path, t=60, layout="h36m", seed=0):
    rng = np.random.default_rng(seed)
    n = 17 if layout in ("h36m", "coco17") else 33
    save_input_2d(path, rng.uniform(100, 400, (t, n, 2)), rng.uniform(0, 1, (t, n)), 640, 480, 30.0, layout)


def test_lift_one_file(tmp_path, tiny_checkpoint):
    src = tmp_path / "walk.npz"
    write_input(src)
    out = tmp_path / "walk3d.npz"
    assert main(["lift", str(src), "-o", str(out), "--model", str(tiny_checkpoint)]) == 0
    z = np.load(out)
    assert z["poses_3d"].shape == (60, 17, 3)
    assert z["reliable"].shape == (60, 17) and z["reliable"].dtype == bool
    np.testing.assert_array_equal(z["reliable"], np.load(src)["scores"] >= 0.3)
    assert str(z["model"]) == "tiny"
    # never overwrite without being asked
    assert main(["lift", str(src), "-o", str(out), "--model", str(tiny_checkpoint)]) == 2
    assert main(["lift", str(src), "-o", str(out), "--model", str(tiny_checkpoint), "--overwrite", "--bvh"]) == 0
    from occlupose.bvh import read_bvh

    back, fps = read_bvh(out.with_suffix(".bvh"))
    assert back.shape == (60, 17, 3) and fps == pytest.approx(30.0)


def test_lift_turns_a_ray_frame_models_3d_with_the_files_camera(tmp_path, tiny_checkpoint, capsys):
    """A model that lifts along the viewing ray gets the camera from the file's image size and --fov/--focal."""
    from dataclasses import replace

    from occlupose.lifter import lift, load_checkpoint, save_checkpoint

    loaded = load_checkpoint(tiny_checkpoint)
    model = loaded.model
    model.cfg = replace(model.cfg, ray_frame=True, ray_input=True)
    ray_ckpt = tmp_path / "ray.pt"
    save_checkpoint(ray_ckpt, model, replace(loaded.config, model=model.cfg), 30)
    src = tmp_path / "walk.npz"
    write_input(src)
    d = np.load(src)
    for extra, focal in (([], 320 / np.tan(np.radians(32.5))), (["--fov", "90"], 320.0), (["--focal", "500"], 500.0)):
        out = tmp_path / f"walk3d{len(extra)}{focal:.0f}.npz"
        assert main(["lift", str(src), "-o", str(out), "--model", str(ray_ckpt), *extra]) == 0
        assert f"focal length {focal:.0f}" in capsys.readouterr().out
        want = lift(model, d["keypoints"], d["scores"], 30.0, camera=(focal, 320.0, 240.0))
        np.testing.assert_allclose(np.load(out)["poses_3d"], want, atol=1e-5)
    assert main(["lift", str(src), "-o", str(tmp_path / "x.npz"), "--model", str(ray_ckpt), "--fov", "0"]) == 2
    assert "field of view" in capsys.readouterr().err
    # a file that states its camera's focal length (the optional `focal` key) is lifted with it
    save_input_2d(src, d["keypoints"], d["scores"], 640, 480, 30.0, focal=700.0)
    assert main(["lift", str(src), "-o", str(tmp_path / "f.npz"), "--model", str(ray_ckpt)]) == 0
    assert "focal length 700 px (from the file)" in capsys.readouterr().out
    want = lift(model, d["keypoints"], d["scores"], 30.0, camera=(700.0, 320.0, 240.0))
    np.testing.assert_allclose(np.load(tmp_path / "f.npz")["poses_3d"], want, atol=1e-5)
    save_input_2d(src, d["keypoints"], d["scores"], 640, 480, 30.0, focal=-1.0)
    assert main(["lift", str(src), "-o", str(tmp_path / "g.npz"), "--model", str(ray_ckpt)]) == 2
    assert "focal must be a positive number" in capsys.readouterr().err


def test_lift_several_files_into_a_folder(tmp_path, tiny_checkpoint):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    write_input(a, 20)
    write_input(b, 45, layout="coco17", seed=1)
    out = tmp_path / "out"
    assert main(["lift", str(a), str(b), "-o", str(out), "--model", str(tiny_checkpoint)]) == 0
    assert np.load(out / "a.npz")["poses_3d"].shape == (20, 17, 3)
    assert np.load(out / "b.npz")["poses_3d"].shape == (45, 17, 3)


def test_bad_input_gives_a_message_not_a_traceback(tmp_path, tiny_checkpoint):
    r = run("lift", str(tmp_path / "missing.npz"), "-o", str(tmp_path / "o.npz"), "--model", str(tiny_checkpoint))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "missing.npz: no such file" in r.stderr
    bad = tmp_path / "nan.npz"
    np.savez(bad, keypoints=np.full((4, 17, 2), np.nan), scores=np.ones((4, 17)), width=1, height=1, fps=30)
    r = run("lift", str(bad), "-o", str(tmp_path / "o.npz"), "--model", str(tiny_checkpoint))
    assert r.returncode == 2 and "NaN" in r.stderr and "Traceback" not in r.stderr
    r = run("lift", str(bad), "-o", str(tmp_path / "o.npz"), "--model", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_evaluate_prints_both_tables(tmp_path, tiny_checkpoint, capsys):
    assert main(["evaluate", str(tiny_checkpoint), "--views", "1", "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "detector 2D" in out and "clean 2D" in out and "| ALL |" in out
    import json

    res = json.loads((tmp_path / "r.json").read_text())
    assert res["detector"]["ALL"]["frames"] == res["clean"]["ALL"]["frames"] > 1000


def test_cylinder_demo_writes_a_png(tmp_path):
    out = tmp_path / "demo.png"
    assert main(["cylinder-demo", "-o", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert main(["cylinder-demo", "-o", str(out)]) == 2  # exists


@pytest.mark.parametrize("args", [["train", "--config", "nope.yaml", "-o", "x"], ["evaluate", "nope.pt"]])
def test_missing_files(args, capsys):
    assert main(args) == 2
    assert "no such" in capsys.readouterr().err


def test_evaluate_on_a_human36m_layout_folder(tmp_path, tiny_checkpoint, mocap, capsys):
    from occlupose.data import save_h36m_3d

    clips = [mocap.clips[k] for k in mocap.keys("test")[:2]]
    # VideoPose3D stores 32 joints; spread our 17 into their slots
    from occlupose.data import H36M32_TO_17

    full = []
    for c in clips:
        f = np.zeros((len(c), 32, 3), np.float32)
        f[:, H36M32_TO_17] = c
        full.append(f)
    save_h36m_3d(tmp_path / "data_3d_h36m.npz", {"S9": {"Walking": full[0]}, "S11": {"Eating": full[1]},
                                                  "S1": {"Posing": full[0]}})
    args = ["evaluate", str(tiny_checkpoint), "--views", "1", "--h36m", str(tmp_path), "--per-clip"]
    assert main(args) == 2  # a pickle is read only when the user trusts it
    assert main([*args, "--allow-pickle"]) == 0
    out = capsys.readouterr().out
    assert "test subjects S11, S9" in out and "S9/Walking#v0" in out and "S1/Posing" not in out


def test_lift_into_a_missing_folder_is_refused(tmp_path, tiny_checkpoint, capsys):
    src = tmp_path / "a.npz"
    write_input(src, 10)
    assert main(["lift", str(src), "-o", str(tmp_path / "no" / "where.npz"), "--model", str(tiny_checkpoint)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_torchrun_ddp_training(tmp_path, mocap):
    """Two CPU processes under torchrun (gloo) train one model; rank 0 writes the run."""
    cfg = tmp_path / "ddp.yaml"
    cfg.write_text(f"name: ddp\nsteps: 4\nbatch_size: 4\nwindow: 16\nlog_every: 2\ncheckpoint_every: 4\n"
                   f"data: {mocap.path}\nmodel:\n  tcn: {{channels: 8}}\n")
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                        "29533", "-m", "occlupose", "train", "--config", str(cfg), "-o", str(tmp_path / "run"),
                        "--quiet"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    from occlupose.lifter import load_checkpoint

    assert load_checkpoint(tmp_path / "run" / "final.pt").meta["step"] == 4


def test_test_inputs_do_not_depend_on_the_models_training_config(tmp_path, tiny_checkpoint):
    """A model trained without virtual views is scored on the same virtual-view test inputs as any other."""
    import json

    import torch

    ck = torch.load(tiny_checkpoint, weights_only=False)
    ck["config"]["augment"]["virtual_views"] = False
    ck["config"]["augment"]["perspective_prob"] = 0.0
    studio = tmp_path / "studio.pt"
    torch.save(ck, studio)
    fractions = []
    for i, model in enumerate((tiny_checkpoint, studio)):
        out = tmp_path / f"r{i}.json"
        assert main(["evaluate", str(model), "--views", "1", "--json", str(out)]) == 0
        fractions.append(json.loads(out.read_text())["detector"]["ALL"]["masked_fraction"])
    assert fractions[0] == fractions[1]
