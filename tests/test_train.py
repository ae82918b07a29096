import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from occlupose.config import ModelConfig, TrainConfig, load_config, save_config
from occlupose.lifter import PoseLifter, load_checkpoint
from occlupose.models import TCNConfig
from occlupose.train import initial_weights, lr_at, train


def tiny(**kw) -> TrainConfig:
    base = TrainConfig(name="tiny", steps=200, batch_size=16, window=32, log_every=20, checkpoint_every=100,
                       eval_views=1, threads=1, model=ModelConfig(tcn=TCNConfig(channels=24, dropout=0.0)))
    return replace(base, **kw)


def read_log(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_short_training_drives_the_loss_down(tmp_path, mocap):
    cfg = tiny(data=mocap.path)
    final = train(cfg, tmp_path / "run", progress=False)
    rows = read_log(tmp_path / "run" / "log.csv")
    assert len(rows) == 10
    first, last = float(rows[0]["mse"]), float(rows[-1]["mse"])
    assert last < 0.5 * first
    loaded = load_checkpoint(final)
    assert loaded.config == cfg and loaded.meta["step"] == 200


def test_semi_supervised_windows_never_use_3d(tmp_path, mocap):
    cfg = tiny(data=mocap.path, steps=20, log_every=10, supervised_subjects=("S02",))
    train(cfg, tmp_path / "semi", progress=False)
    rows = read_log(tmp_path / "semi" / "log.csv")
    assert all(float(r["proj"]) > 0 and float(r["reg"]) > 0 for r in rows)
    with pytest.raises(ValueError, match="not training subjects"):
        train(replace(cfg, supervised_subjects=("S06",)), tmp_path / "bad", progress=False)


def test_resume_continues_and_refuses_a_used_folder(tmp_path, mocap):
    cfg = tiny(data=mocap.path, steps=10, log_every=10, checkpoint_every=10)
    run = tmp_path / "r"
    train(cfg, run, progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        train(cfg, run, progress=False)
    with pytest.raises(ValueError, match="different config"):
        train(replace(cfg, lr=0.5), run, resume=True, progress=False)
    train(replace(cfg, steps=20), run, resume=True, progress=False)
    assert load_checkpoint(run / "final.pt").meta["step"] == 20
    assert [r["step"] for r in read_log(run / "log.csv")] == ["10", "20"]


def test_fine_tuning_starts_from_the_given_weights(tmp_path, mocap):
    cfg = tiny(data=mocap.path, steps=10, log_every=10, checkpoint_every=10, use_adversarial=False)
    base = dict(load_checkpoint(train(cfg, tmp_path / "base", progress=False)).model.named_parameters())
    # a near-zero learning rate: after one step the weights (not the batch-norm statistics, which any forward
    # pass in training mode moves) are still the ones it started from
    still = replace(cfg, steps=1, log_every=1, lr=1e-12, lr_final=1e-12)
    tuned = load_checkpoint(train(replace(still, init=str(tmp_path / "base" / "final.pt")), tmp_path / "ft",
                                  progress=False))
    fresh = dict(load_checkpoint(train(still, tmp_path / "fresh", progress=False)).model.named_parameters())
    tuned_weights = dict(tuned.model.named_parameters())
    for k, v in base.items():
        np.testing.assert_allclose(tuned_weights[k].detach().numpy(), v.detach().numpy(), atol=1e-6)
    # a run without init starts where base started, ten Adam steps of ~1e-3 away from where it ended
    assert max(float((fresh[k] - v).detach().abs().max()) for k, v in base.items()) > 1e-3
    assert tuned.config.init == str(tmp_path / "base" / "final.pt")  # the run records where it started
    # another network is refused before anything is written
    wider = replace(still, init=str(tmp_path / "base" / "final.pt"),
                    model=replace(cfg.model, tcn=replace(cfg.model.tcn, channels=32)))
    with pytest.raises(ValueError, match="channels=24.*channels=32"):
        train(wider, tmp_path / "wider", progress=False)
    assert not (tmp_path / "wider").exists()
    # the same network may be taught another rule for low-C* keypoints (the encoding's mode and flag vote), and
    # the checkpoint then records the new rule; another b is another input and is refused
    enc = cfg.model.encoding
    other_rule = replace(enc, mode="soft" if enc.mode == "paper" else "paper", flag_frames=5)
    hard = replace(still, init=str(tmp_path / "base" / "final.pt"), model=replace(cfg.model, encoding=other_rule))
    assert load_checkpoint(train(hard, tmp_path / "hard", progress=False)).model.cfg.encoding == other_rule
    other_b = replace(hard, model=replace(cfg.model, encoding=replace(enc, threshold=0.5)))
    with pytest.raises(ValueError, match="threshold=0.3.*threshold=0.5"):
        train(other_b, tmp_path / "other_b", progress=False)


def test_the_fine_tuning_configs_start_from_the_shipped_model():
    cfg = load_config(Path(__file__).parents[1] / "configs" / "finetune" / "default_cmu_extra.yaml")
    assert cfg.init == "default" and cfg.extra_data == ("cmu_extra",) and cfg.lr == cfg.lr_final == 1e-4
    shipped = load_checkpoint(None).model.state_dict()
    weights = initial_weights(cfg)
    # the shipped model averages lifters trained apart (model.ensemble): a fine-tuning run starts from the first
    first = {k: v for k, v in shipped.items() if not k.startswith("others.")}
    assert weights.keys() == first.keys() and all(torch.equal(weights[k], first[k]) for k in first)
    # init_member picks the second (trained apart with seed 1): same names, other values
    second = initial_weights(replace(cfg, init_member=1))
    assert second.keys() == first.keys()
    assert all(torch.equal(second[k], shipped["others.0." + k]) for k in first)
    assert not torch.equal(second["tcn3d.stem.0.weight"], first["tcn3d.stem.0.weight"])
    with pytest.raises(ValueError, match="holds 2 lifter"):
        initial_weights(replace(cfg, init_member=2))


def test_a_lifter_without_confidence_products_starts_one_with_them_unchanged():
    cfg = load_config(Path(__file__).parents[1] / "configs" / "finetune" / "default_cmu_extra.yaml")
    shipped = load_checkpoint(None).model
    model = replace(shipped.cfg, ensemble=1, tcn=replace(shipped.cfg.tcn, confidence_products=True))
    weights = initial_weights(replace(cfg, model=model, init_member=1))
    wide = PoseLifter(model).eval()
    wide.load_state_dict(weights)
    stem = weights["tcn3d.stem.0.weight"].reshape(256, 17, 5, -1)
    assert torch.equal(stem[:, :, :3].reshape(256, 51, -1), shipped.state_dict()["others.0.tcn3d.stem.0.weight"])
    assert not stem[:, :, 3:].any()
    # the same function as the lifter it started from, before any step
    x = torch.randn(1, 40, 17, 3)
    assert torch.allclose(wide.tcn3d(x), shipped.others[0].tcn3d(x), atol=1e-5)


def test_lr_schedule_follows_the_paper():
    cfg = TrainConfig()
    assert lr_at(cfg, 0) == 1e-3 and lr_at(cfg, 99_999) == 1e-3 and lr_at(cfg, 100_000) == 1e-4
    assert cfg.batch_size == 128 and cfg.window == 128


def test_config_round_trip_and_errors(tmp_path):
    cfg = tiny(supervised_subjects=("S01", "S02"))
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg
    (tmp_path / "typo.yaml").write_text("stepz: 3\n")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['stepz'\]"):
        load_config(tmp_path / "typo.yaml")
    (tmp_path / "type.yaml").write_text("steps: many\n")
    with pytest.raises(ValueError, match="expected int"):
        load_config(tmp_path / "type.yaml")
    (tmp_path / "c.toml").write_text('steps = 5\n[model.tcn]\nchannels = 8\n')
    t = load_config(tmp_path / "c.toml")
    assert t.steps == 5 and t.model.tcn.channels == 8 and t.lr == 1e-3


def test_training_is_reproducible(tmp_path, mocap):
    cfg = tiny(data=mocap.path, steps=5, log_every=5, use_adversarial=False)
    torch.manual_seed(0)
    a = train(cfg, tmp_path / "a", progress=False)
    b = train(cfg, tmp_path / "b", progress=False)
    sa, sb = load_checkpoint(a).model.state_dict(), load_checkpoint(b).model.state_dict()
    for k in sa:
        np.testing.assert_allclose(sa[k].numpy(), sb[k].numpy(), rtol=1e-5, atol=1e-6)


def test_every_committed_config_loads_and_ablation_rows_add_one_component_each():
    root = Path(__file__).parents[1] / "configs"
    cfgs = {p.stem: load_config(p) for p in sorted((root / "ablation").glob("*.yaml"))}
    assert load_config(root / "default.yaml").name == "occlupose-default"
    every = {p: load_config(p) for p in root.rglob("*.yaml") if p.name != "base.yaml"}  # all parse and check
    assert len({c.name for c in every.values()}) == len(every)  # and no two runs share a name
    assert len(cfgs) == 7
    switches = []
    for c in cfgs.values():
        switches.append((c.model.use_2d_tcn, c.model.encoding.mode == "paper", c.use_symmetry, c.use_adversarial,
                         c.pose_regularizer == "all", c.augment.virtual_views))
        assert c.steps == cfgs["1_baseline"].steps and c.batch_size == cfgs["1_baseline"].batch_size
    assert switches[0] == (False,) * 6 and switches[-1] == (True,) * 6
    for a, b in zip(switches, switches[1:]):  # each row turns exactly one more component on
        assert sum(y and not x for x, y in zip(a, b)) == 1 and all(y or not x for x, y in zip(a, b))


def test_regularizer_on_supervised_windows_when_asked(tmp_path, mocap):
    cfg = tiny(data=mocap.path, steps=4, log_every=2, pose_regularizer="all")
    train(cfg, tmp_path / "reg", progress=False)
    assert all(float(r["reg"]) > 0 for r in read_log(tmp_path / "reg" / "log.csv"))
    train(replace(cfg, pose_regularizer="2d_only"), tmp_path / "noreg", progress=False)
    assert all(float(r["reg"]) == 0 for r in read_log(tmp_path / "noreg" / "log.csv"))


def test_subjects_restrict_the_training_data(mocap):
    from occlupose.train import build_data

    full = build_data(tiny(data=mocap.path))
    only = build_data(tiny(data=mocap.path, subjects=("S02",)))
    s02 = [k for k in mocap.keys("train") if k.startswith("S02/")]
    assert len(only.lengths) == len(s02) and only.poses.shape[0] == sum(len(mocap.clips[k]) for k in s02)
    assert only.poses.shape[0] < full.poses.shape[0] and only.supervised.all()
    with pytest.raises(ValueError, match="not training subjects"):
        build_data(tiny(data=mocap.path, subjects=("S06",)))


def test_ablation_budget_and_sweeps_apply_to_any_row():
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from ablation import resolve, row_names, run_name, shrink

    cfg = load_config(resolve("7_full"))
    small = shrink(cfg, steps=600, batch_size=32, channels=64, window=16, threshold=0.2, threads=1)
    assert (small.steps, small.batch_size, small.model.tcn.channels, small.window) == (600, 32, 64, 16)
    assert small.model.encoding.threshold == 0.2 and small.checkpoint_every <= 600 and small.threads == 1
    assert small.pose_regularizer == cfg.pose_regularizer  # nothing else changes
    assert row_names(["all", "configs/semi/semi_reg.yaml"])[:2] == ["1_baseline", "2_tcn2d"]
    assert len(row_names(["all"])) == 7
    assert run_name("configs/semi/semi_reg.yaml", 1, window=64, threshold=0.25) == "semi_reg-w64-b0.25-s1"
    # validation: the held-out training subjects are left out of training, every other one stays
    from ablation import VAL_SUBJECTS, for_split

    val = for_split(cfg, "val")
    assert set(VAL_SUBJECTS) == {"S08", "S13"} and not set(val.subjects) & set(VAL_SUBJECTS)
    assert len(val.subjects) == 9 and for_split(cfg, "test") == cfg
    semi = load_config(resolve("configs/semi/semi_reg.yaml"))
    assert semi.supervised_subjects == ("S01", "S07") and semi.subjects is None
    assert load_config(resolve("configs/semi/3d_few.yaml")).subjects == ("S01", "S07")


def test_augmentation_workers_draw_the_same_batches(tmp_path, mocap):
    """Batches built by forked workers ahead of the step equal the in-process ones: each step's random stream
    depends on (seed, rank, step) only, so the trained weights are the same."""
    from occlupose.augment import Augmenter
    from occlupose.train import Batches, build_data

    cfg = tiny(data=mocap.path, steps=6, batch_size=4)
    data, aug = build_data(cfg), Augmenter(cfg.augment, cfg.model.encoding.filter)
    inline, ahead = Batches(cfg, data, aug, 0, 2, "cpu"), Batches(replace(cfg, workers=2), data, aug, 0, 2, "cpu")
    try:
        for step in range(2, 6):
            a, b = inline.get(step), ahead.get(step)
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        assert not torch.equal(inline.get(2)["x"], inline.get(3)["x"])  # steps differ from each other
    finally:
        ahead.close()
    with pytest.raises(ValueError, match="workers"):
        TrainConfig(workers=-1)


def test_echoed_batches_repeat_each_built_batch_every_second_time_mirrored(mocap):
    """Data echoing: step s trains on built batch s // echo, mirrored on odd copies; the mirror is the batch the
    augmenter would give for the mirror-image 2D (encoding and targets alike), and workers change nothing."""
    from occlupose.augment import Augmenter
    from occlupose.encoding import encode
    from occlupose.skeleton import FLIP_PERMUTATION
    from occlupose.train import Batches, build_data, mirror_batch, step_batch

    cfg = tiny(data=mocap.path, steps=7, batch_size=4)
    data, aug = build_data(cfg), Augmenter(cfg.augment, cfg.model.encoding.filter)
    plain = Batches(cfg, data, aug, 0, 0, "cpu")
    echo = replace(cfg, echo=3)
    inline, ahead = Batches(echo, data, aug, 0, 1, "cpu"), Batches(replace(echo, workers=2), data, aug, 0, 1, "cpu")
    try:
        for step in range(1, 7):
            a, b = inline.get(step), ahead.get(step)
            assert all(torch.equal(a[k], b[k]) for k in a)
            want = plain.get(step // 3)
            want = mirror_batch(want) if step % 3 % 2 else want
            assert all(torch.equal(a[k], want[k]) for k in a)
    finally:
        ahead.close()
    repeated = Batches(replace(echo, echo_mirror=False), data, aug, 0, 0, "cpu")
    assert all(torch.equal(repeated.get(1)[k], plain.get(0)[k]) for k in plain.get(0))
    # mirroring the built batch = encoding the mirror-image 2D; the 3D target mirrored the same way
    arrays = step_batch(cfg, data, aug, 0, 0)
    batch = {k: torch.from_numpy(v) for k, v in arrays.items()}
    mirrored = mirror_batch(batch)
    x = batch["x"].numpy()
    kp, third = x[..., :2].copy(), x[..., 2]
    kp[..., 0] *= -1
    again = encode(kp[:, :, FLIP_PERMUTATION], third[:, :, FLIP_PERMUTATION], cfg.model.encoding).x
    np.testing.assert_allclose(mirrored["x"].numpy(), again, atol=1e-5)
    gt = batch["gt_3d"].numpy()
    np.testing.assert_array_equal(mirrored["gt_3d"].numpy()[..., 0], -gt[:, :, FLIP_PERMUTATION, 0])
    assert torch.equal(mirror_batch(mirrored)["gt_3d"], batch["gt_3d"])  # twice is the identity
    with pytest.raises(ValueError, match="echo"):
        TrainConfig(echo=0)


def test_a_non_finite_loss_stops_the_run_before_it_reaches_a_checkpoint(tmp_path, mocap, monkeypatch):
    """The loss terms are read back only to log and before a checkpoint: a NaN from step 8 on is caught at step
    10 (a checkpoint), which is not written, and last.pt keeps step 5's finite weights."""
    import occlupose.losses as L

    real, calls = L.total_loss, []

    def poisoned(*args):
        calls.append(1)
        out = real(*args)
        return out * float("nan") if len(calls) >= 8 else out

    monkeypatch.setattr(L, "total_loss", poisoned)
    cfg = tiny(data=mocap.path, steps=20, log_every=20, checkpoint_every=5)
    with pytest.raises(FloatingPointError, match="between steps 6 and 10"):
        train(cfg, tmp_path / "run", progress=False)
    last = load_checkpoint(tmp_path / "run" / "last.pt")
    assert last.meta["step"] == 5
    assert all(torch.isfinite(v).all() for v in last.model.state_dict().values())


def test_bfloat16_forward_trains_like_float32(tmp_path, mocap):
    """``precision: bf16`` runs the network under autocast and the losses in float32: the first logged loss is
    within a few per cent of the float32 run's, and both fall; any other precision is refused."""
    runs = {}
    for precision in ("fp32", "bf16"):
        train(tiny(data=mocap.path, steps=40, log_every=20, precision=precision), tmp_path / precision,
              progress=False)
        runs[precision] = [float(r["loss"]) for r in read_log(tmp_path / precision / "log.csv")]
    assert runs["bf16"][0] == pytest.approx(runs["fp32"][0], rel=0.05)
    assert runs["bf16"] != runs["fp32"]  # it really ran in another precision
    assert all(r[1] < r[0] for r in runs.values())
    with pytest.raises(ValueError, match="precision"):
        TrainConfig(precision="fp16")


def test_ray_frame_targets_are_the_pinhole_windows_turned_by_their_ray(mocap):
    from occlupose.augment import Augmenter
    from occlupose.data import sample_windows
    from occlupose.lifter import encode_in_view, turn_by_ray
    from occlupose.train import batch_arrays, build_data

    plain = tiny(data=mocap.path, batch_size=12)
    ray = replace(plain, model=replace(plain.model, ray_frame=True))
    both = replace(plain, model=replace(plain.model, ray_frame=True, ray_input=True))
    data = build_data(plain)
    aug = Augmenter(plain.augment, plain.model.encoding.filter)
    got = {c: batch_arrays(np.random.default_rng(3), data, aug, c) for c in (plain, ray, both)}
    rng = np.random.default_rng(3)  # the same draws as batch_arrays, to see the batch it was built from
    batch = aug(rng, data.poses[sample_windows(rng, data.lengths, 12, plain.window)])
    pinhole = np.isfinite(batch.root[:, 0, 0])
    assert pinhole.any() and (~pinhole).any()
    _, centre = encode_in_view(plain.model, batch.det_2d, batch.conf, pinhole)
    np.testing.assert_allclose(got[plain]["gt_3d"], batch.poses_3d)
    np.testing.assert_allclose(got[ray]["gt_3d"], turn_by_ray(batch.poses_3d, centre, pinhole, False), atol=1e-6)
    assert np.abs(got[ray]["gt_3d"][pinhole] - batch.poses_3d[pinhole]).max() > 1e-3
    np.testing.assert_array_equal(got[ray]["x"], got[plain]["x"])  # ray_frame alone leaves the input as it is
    # ray_input: the pinhole windows' 2D seen along the ray, the orthographic ones as they are
    np.testing.assert_array_equal(got[both]["x"][~pinhole], got[plain]["x"][~pinhole])
    assert np.abs(got[both]["x"][pinhole] - got[plain]["x"][pinhole]).max() > 1e-3
    np.testing.assert_allclose(got[both]["gt_3d"], got[ray]["gt_3d"], atol=1e-6)
