import subprocess
import sys
import tarfile
from pathlib import Path

import torch

from occlupose.lifter import PACKAGED, load_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def test_pack_runs_keeps_the_small_files_and_half_weights(tiny_checkpoint, tmp_path):
    run = Path(tiny_checkpoint).parent  # the tiny run's folder: final.pt, log.csv, config.yaml
    out = tmp_path / "runs.tar"
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "pack_runs.py"), str(run), str(tmp_path / "none"),
                           "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "no such run folder" in done.stderr
    with tarfile.open(out) as tar:
        names = {Path(n).name for n in tar.getnames()}
        tar.extractall(tmp_path / "back", filter="data")
    assert {"final.pt", "log.csv", "config.yaml"} <= names
    back = next((tmp_path / "back").rglob("final.pt"))
    raw = torch.load(back, map_location="cpu", weights_only=False)
    assert "optimizer" not in raw and all(v.dtype == torch.float16 for v in raw["model"].values()
                                          if v.is_floating_point())
    a, b = load_checkpoint(tiny_checkpoint), load_checkpoint(back)
    assert a.config == b.config and a.meta["step"] == b.meta["step"]
    for k, v in a.model.state_dict().items():
        torch.testing.assert_close(b.model.state_dict()[k], v, atol=2e-3, rtol=2e-3)


def test_pack_runs_refuses_a_tar_over_the_limit(tiny_checkpoint, tmp_path):
    run = Path(tiny_checkpoint).parent
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "pack_runs.py"), str(run), "--out",
                           str(tmp_path / "r.tar"), "--max-mb", "0.001"], capture_output=True, text=True)
    assert done.returncode != 0 and "over --max-mb" in done.stderr
    assert not (tmp_path / "r.tar").exists()


def test_the_benchmarks_environment_line_names_the_cpu_and_the_versions():
    import numpy as np

    from occlupose.deps import environment

    line = environment()
    assert f"numpy {np.__version__}" in line and f"torch {torch.__version__}" in line
    assert line.split(";")[0].strip() not in ("", "unknown CPU")


def test_each_packaged_model_is_what_its_cards_training_command_trains():
    """One command makes each shipped lifter: the config in the checkpoint is the one its card's `--config`
    file gives, apart from the seed, the run's resources and the test-time settings that packaging adds (the
    weights do not depend on those)."""
    import re
    from dataclasses import replace

    from occlupose.config import load_config
    from occlupose.lifter import weight_design

    root = Path(__file__).parents[1]

    def weights_config(cfg):
        return replace(cfg, name="", seed=0, threads=1, workers=0, model=weight_design(cfg.model))

    for name in PACKAGED:
        card = (root / "src" / "occlupose" / "weights" / f"{name}.md").read_text()
        command = card.split("## Command", 1)[1].split("## Metrics", 1)[0]
        recipe = re.search(r"occlupose train --config (\S+)", command).group(1)
        wanted = load_config(root / recipe)
        # a fine-tuning's own start: the last training command's (a fine-tuning in two stages names both)
        started = re.findall(r"occlupose train --config \S+ --init (\S+)", command)
        if started:
            wanted = replace(wanted, init=started[-1])
        shipped = load_checkpoint(name).config
        assert weights_config(shipped) == weights_config(wanted), (name, recipe)


def test_set_test_time_keeps_the_weights_and_rescores_the_card(tmp_path):
    """A packaged model's bone pull changed: the same float16 weights, the new setting, the card's metrics rows
    and command updated; asking again for what it already has changes nothing."""
    import shutil

    from occlupose.lifter import test_time_options

    assert test_time_options(True, True, 5, 0.5) == " --flip --grid --confidence-frames 5 --bones 0.5"
    assert test_time_options() == ""
    weights = ROOT / "src" / "occlupose" / "weights"
    for f in ("causal.pt", "causal.md"):
        shutil.copy(weights / f, tmp_path / f)
    card_before = (tmp_path / "causal.md").read_text()
    command = [sys.executable, str(ROOT / "tools" / "set_test_time.py"), "causal", "--bones", "0.2", "--views", "1",
               "--weights", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    before, after = load_checkpoint("causal"), load_checkpoint(tmp_path / "causal.pt")
    assert after.model.cfg.bone_test == 0.2 and after.meta["step"] == before.meta["step"]
    for k, v in before.model.state_dict().items():
        assert torch.equal(after.model.state_dict()[k], v), k
    card = (tmp_path / "causal.md").read_text()
    row = next(line for line in card.splitlines() if line.startswith("| detector-like 2D |"))
    assert row not in card_before  # rescored with 1 view and another share
    assert "python tools/set_test_time.py causal --bones 0.2 --views 1\n```" in card
    assert card.rstrip().endswith("The metrics above are with them.")
    again = subprocess.run(command, capture_output=True, text=True)
    assert again.returncode != 0 and "nothing to change" in again.stderr


def test_hidden_gaps_draws_the_line_between_the_anchors_on_either_side():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from hidden_gaps import interpolate
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    import numpy as np

    kp = np.zeros((7, 2, 2))
    kp[:, 0, 0] = [0, 9, 9, 9, 4, 9, 9]  # joint 0: anchors at frames 0 and 4, then none to the end
    kp[:, 1, 1] = [5, 5, 5, 5, 5, 5, 5]  # joint 1: never an anchor
    anchor = np.zeros((7, 2), bool)
    anchor[[0, 4], 0] = True
    out, gap = interpolate(kp, anchor)
    np.testing.assert_allclose(out[:, 0, 0], [0, 1, 2, 3, 4, 4, 4])  # the line, then held after the last anchor
    np.testing.assert_allclose(out[:, 1], kp[:, 1])  # no anchor at all: the guess stays
    assert gap[:, 0].tolist() == [0, 3, 3, 3, 0, 2, 2] and gap[:, 1].tolist() == [7] * 7
