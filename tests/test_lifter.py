from dataclasses import replace

import numpy as np
import pytest
import torch

from occlupose.lifter import lift, load_checkpoint, prepare_input, resample, save_checkpoint


def test_resample_round_trip():
    x = np.sin(np.linspace(0, 3, 61))[:, None]
    up = resample(x, 30.0, 50.0)
    assert len(up) == 101
    back = resample(up, 50.0, 30.0, n_out=61)
    np.testing.assert_allclose(back, x, atol=2e-3)
    assert resample(x[:1], 30.0, 50.0).shape == (1, 1)


@pytest.mark.parametrize("t, fps", [(1, 30.0), (5, 50.0), (37, 25.0), (300, 60.0)])
def test_lift_any_length_and_rate(tiny_checkpoint, t, fps):
    model = load_checkpoint(tiny_checkpoint).model
    rng = np.random.default_rng(t)
    kp = rng.uniform(100, 500, (t, 17, 2))
    rel = rng.random((t, 17)) > 0.2
    out = lift(model, kp, rel, fps)
    assert out.shape == (t, 17, 3) and np.isfinite(out).all()
    np.testing.assert_allclose(out[:, 0], 0.0, atol=1e-6)


def test_lift_is_invariant_to_image_position_and_size(tiny_checkpoint):
    model = load_checkpoint(tiny_checkpoint).model
    rng = np.random.default_rng(0)
    kp = rng.uniform(100, 300, (40, 17, 2))
    rel = np.ones((40, 17), bool)
    a = lift(model, kp, rel)
    b = lift(model, kp * 2.0 + 50.0, rel)
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_missing_keypoint_values_do_not_matter(tiny_checkpoint):
    model = load_checkpoint(tiny_checkpoint).model
    rng = np.random.default_rng(1)
    kp = rng.uniform(100, 300, (40, 17, 2))
    rel = np.ones((40, 17), bool)
    rel[10:20, 13] = False
    kp2 = kp.copy()
    kp2[10:20, 13] = np.nan  # a missing keypoint may even be NaN
    np.testing.assert_allclose(lift(model, kp, rel), lift(model, kp2, rel), atol=1e-5)


def test_lift_rejects_bad_shapes(tiny_checkpoint):
    model = load_checkpoint(tiny_checkpoint).model
    with pytest.raises(ValueError, match=r"\(T, 17, 2\)"):
        lift(model, np.zeros((5, 16, 2)), np.ones((5, 16), bool))
    with pytest.raises(ValueError, match="T = 0"):
        lift(model, np.zeros((0, 17, 2)), np.ones((0, 17), bool))


def test_checkpoint_errors(tmp_path, tiny_checkpoint):
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "none.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable lifter checkpoint; PyTorch cannot load it"):
        load_checkpoint(bad)
    other = tmp_path / "other.pt"
    torch.save({"weights": 1}, other)
    with pytest.raises(ValueError, match="not an occlupose lifter checkpoint"):
        load_checkpoint(other)
    ck = torch.load(tiny_checkpoint, weights_only=False)
    ck["model"] = {k: v for k, v in ck["model"].items() if "tcn3d.head" not in k}
    torch.save(ck, tmp_path / "cut.pt")
    with pytest.raises(ValueError, match="do not match"):
        load_checkpoint(tmp_path / "cut.pt")
    ck["version"] = 99
    torch.save(ck, tmp_path / "v99.pt")
    with pytest.raises(ValueError, match="version 99"):
        load_checkpoint(tmp_path / "v99.pt")


def test_half_precision_checkpoint_matches(tmp_path, tiny_checkpoint):
    loaded = load_checkpoint(tiny_checkpoint)
    save_checkpoint(tmp_path / "half.pt", loaded.model, loaded.config, 30, half=True)
    half = load_checkpoint(tmp_path / "half.pt").model
    x = prepare_input(loaded.model, np.random.default_rng(2).normal(size=(1, 64, 17, 2)), np.ones((1, 64, 17))).x
    with torch.no_grad():
        a = loaded.model(torch.from_numpy(x))[1]
        b = half(torch.from_numpy(x))[1]
    assert (a - b).abs().max().item() < 5e-3


def test_shipped_model_lifts_the_bundled_example():
    """End to end with the committed weights: the example's stored truth must be matched reasonably."""
    from pathlib import Path

    from occlupose.data import load_input_2d
    from occlupose.metrics import mpjpe, p_mpjpe

    loaded = load_checkpoint()  # the shipped model
    assert loaded.name == "occlupose-default"
    d = load_input_2d(Path(__file__).parents[1] / "examples" / "dribble_2d.npz")
    poses = lift(loaded.model, d.keypoints, d.scores >= 0.3, d.fps)
    gt = d.extra["gt_poses_3d"]
    assert poses.shape == gt.shape
    assert mpjpe(poses, gt) < 0.12 and p_mpjpe(poses, gt) < 0.09  # measured 81 / 59 mm


def test_the_occluded_model_drops_untrusted_guesses_and_the_default_believes_them():
    """The packaged lifter for people behind objects (the paper's hard encoding, flag voted over 5 frames): where
    a joint is untrusted for a while, its 2D guess changes nothing; the default (soft) lifter follows it."""
    from pathlib import Path

    from occlupose.data import load_input_2d

    d = load_input_2d(Path(__file__).parents[1] / "examples" / "dribble_2d.npz")
    kp, conf = d.keypoints.astype(np.float64), d.scores.astype(np.float64).copy()
    conf[60:120, [2, 3]] = 0.1  # the right knee and ankle untrusted for 60 frames, as behind a desk
    moved = kp.copy()
    moved[60:120, [2, 3]] += [0.0, 150.0]  # and their guesses 150 px lower
    camera = (float(d.extra["focal"]), d.width / 2, d.height / 2)
    occluded, default = load_checkpoint("occluded"), load_checkpoint()
    assert occluded.name == "occlupose-occluded" and occluded.model.cfg.encoding.mode == "paper"
    a, b = (lift(occluded.model, k, conf, d.fps, camera=camera) for k in (kp, moved))
    np.testing.assert_allclose(a, b, atol=1e-6)
    a, b = (lift(default.model, k, conf, d.fps, camera=camera) for k in (kp, moved))
    assert np.abs(a - b)[60:120, [2, 3]].max() > 0.02  # metres: the soft lifter still uses a 0.1-C* guess


def _perturbed(model, seed: int):
    """A copy of ``model`` with other weights: a lifter of the same design trained apart, as far as averaging
    can tell."""
    import copy

    other = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    return other


def test_an_ensemble_gives_the_mean_of_its_lifters_and_survives_a_checkpoint(tmp_path, tiny_checkpoint):
    from dataclasses import replace

    from occlupose.lifter import combine

    loaded = load_checkpoint(tiny_checkpoint)
    a = loaded.model
    a.cfg = replace(a.cfg, flip_test=True, shift_test=True)
    b = _perturbed(a, 1)
    both = combine([a, b])
    assert both.cfg.ensemble == 2 and both.cfg.flip_test and both.cfg.shift_test
    x = torch.from_numpy(prepare_input(a, np.random.default_rng(3).uniform(100, 400, (2, 45, 17, 2)),
                                       np.random.default_rng(4).random((2, 45, 17))).x)
    with torch.no_grad():
        ya, yb, y = a.infer(x), b.infer(x), both.infer(x)
    assert (ya - yb).abs().max().item() > 1e-2  # the two differ, so the mean is a real check
    torch.testing.assert_close(y, (ya + yb) / 2, atol=1e-5, rtol=0)
    # one checkpoint holds both; it loads as the same ensemble and lifts as it does
    save_checkpoint(tmp_path / "two.pt", both, replace(loaded.config, model=both.cfg), 30)
    again = load_checkpoint(tmp_path / "two.pt").model
    assert again.cfg.ensemble == 2 and any(k.startswith("others.0.tcn3d.") for k in again.state_dict())
    kp = np.random.default_rng(5).uniform(100, 300, (40, 17, 2))
    rel = np.ones((40, 17), bool)
    np.testing.assert_allclose(lift(again, kp, rel), (lift(a, kp, rel) + lift(b, kp, rel)) / 2, atol=1e-5)
    # a single lifter's weights keep the names every earlier checkpoint uses
    assert not any(k.startswith("others") for k in a.state_dict())


def test_an_ensemble_takes_only_lifters_of_one_design(tiny_checkpoint):
    from dataclasses import replace

    from occlupose.lifter import PoseLifter, combine
    from occlupose.models import TCNConfig

    a = load_checkpoint(tiny_checkpoint).model
    wider = PoseLifter(replace(a.cfg, tcn=TCNConfig(channels=32)))
    with pytest.raises(ValueError, match="one design"):
        combine([a, wider])
    with pytest.raises(ValueError, match="not an ensemble itself"):
        combine([a, combine([a, a])])
    with pytest.raises(ValueError, match="at least one"):
        combine([])
    # test-time settings may differ (the first one's are kept): they change no weight
    flipped = _perturbed(a, 2)
    flipped.cfg = replace(a.cfg, flip_test=not a.cfg.flip_test, bone_test=0.5)
    both = combine([a, flipped])
    assert both.cfg.flip_test == a.cfg.flip_test and both.cfg.bone_test == a.cfg.bone_test


def test_bones_pulled_toward_the_sequences_median_by_hand():
    """One bone 1, 2 and 4 long over 3 frames (median 2), its twin always 4 (so they share 3): share 1 gives
    every frame the shared length, share 0.5 the geometric mean of each length and it; directions, the root
    and the bones below move as whole chains."""
    from occlupose.lifter import pull_bones
    from occlupose.skeleton import BONES, SYMMETRIC_BONES, bone_lengths

    rng = np.random.default_rng(0)
    poses = rng.normal(size=(3, 17, 3))
    left, right = SYMMETRIC_BONES[0]
    for name, b, lengths in (("left", left, [1.0, 2.0, 4.0]), ("right", right, [4.0, 4.0, 4.0])):
        parent, child = BONES[b]
        d = poses[:, child] - poses[:, parent]
        d /= np.linalg.norm(d, axis=-1, keepdims=True)
        below = [j for j in range(17) if _descends(j, child)]  # the child and every joint under it
        poses[:, below] += (d * np.array(lengths)[:, None] - (poses[:, child] - poses[:, parent]))[:, None]
        assert np.allclose(bone_lengths(poses)[:, b], lengths), name
    x = torch.from_numpy(poses[None])
    full = pull_bones(x, 1.0)[0].numpy()
    np.testing.assert_allclose(bone_lengths(full)[:, [left, right]], 3.0, atol=1e-9)
    half = pull_bones(x, 0.5)[0].numpy()
    np.testing.assert_allclose(bone_lengths(half)[:, left], np.sqrt(np.array([1.0, 2.0, 4.0]) * 3.0), atol=1e-9)
    np.testing.assert_allclose(bone_lengths(half)[:, right], np.sqrt(12.0), atol=1e-9)
    for out in (full, half):
        np.testing.assert_allclose(out[:, 0], poses[:, 0], atol=1e-12)  # the root stays
        unit = lambda p: (p[:, BONES[:, 1]] - p[:, BONES[:, 0]]) / bone_lengths(p)[..., None]  # noqa: E731
        np.testing.assert_allclose(unit(out), unit(poses), atol=1e-9)
    np.testing.assert_allclose(pull_bones(x, 0.0)[0].numpy(), poses, atol=1e-12)


def _descends(j: int, ancestor: int) -> bool:
    from occlupose.skeleton import PARENTS

    while j >= 0:
        if j == ancestor:
            return True
        j = int(PARENTS[j])
    return False


def test_bones_pulled_match_numpys_median_off_line_and_live(tiny_checkpoint, monkeypatch):
    """Batched torch equals numpy's median (even and odd T) through skeleton.scale_bones, over the sequence and,
    for a causal model, over the last frames (in blocks of frames or not); ``infer`` applies it when the config
    asks, and a causal model's pulled pose at a frame does not change with later frames; an out-of-range share
    is refused."""
    from dataclasses import replace

    import occlupose.lifter as lifter_module
    from occlupose.config import ModelConfig
    from occlupose.lifter import PoseLifter, pull_bones
    from occlupose.models import TCNConfig
    from occlupose.skeleton import SYMMETRIC_BONES, bone_lengths, scale_bones

    def shared(target):  # a left bone and its right twin: the mean of their medians
        twins = target[..., SYMMETRIC_BONES].mean(-1)
        target[..., SYMMETRIC_BONES[:, 0]] = target[..., SYMMETRIC_BONES[:, 1]] = twins
        return target

    rng = np.random.default_rng(1)
    for t in (1, 6, 7):
        poses = rng.normal(size=(2, t, 17, 3))
        lengths = bone_lengths(poses)
        want = scale_bones(poses, (shared(np.median(lengths, axis=1))[:, None] / lengths) ** 0.3)
        np.testing.assert_allclose(pull_bones(torch.from_numpy(poses), 0.3).numpy(), want, atol=1e-10)
    poses = rng.normal(size=(2, 23, 17, 3))
    lengths = bone_lengths(poses)
    target = shared(np.stack([np.median(lengths[:, max(0, i - 4):i + 1], axis=1) for i in range(23)], 1))
    want = scale_bones(poses, (target / lengths) ** 0.5)  # each frame: the median of it and the 4 before it
    for block in (2048, 7):
        monkeypatch.setattr(lifter_module, "RUNNING_BLOCK", block)
        np.testing.assert_allclose(pull_bones(torch.from_numpy(poses), 0.5, window=5).numpy(), want, atol=1e-10)
    model = load_checkpoint(tiny_checkpoint).model
    x = torch.from_numpy(prepare_input(model, rng.uniform(100, 400, (1, 30, 17, 2)), rng.random((1, 30, 17))).x)
    with torch.no_grad():
        plain = model.infer(x)
        model.cfg = replace(model.cfg, bone_test=0.5)
        torch.testing.assert_close(model.infer(x), pull_bones(plain, 0.5), atol=1e-6, rtol=0)
        torch.testing.assert_close(model.infer(x, pull=False), plain, atol=0, rtol=0)
        causal = PoseLifter(ModelConfig(tcn=TCNConfig(channels=8, causal=True))).eval()
        before = causal.infer(x)
        causal.cfg = replace(causal.cfg, bone_test=0.5)
        pulled = causal.infer(x)
        window = causal.cfg.encoding.causal_window
        torch.testing.assert_close(pulled, pull_bones(before, 0.5, window=window), atol=1e-6, rtol=0)
        assert (pulled - before).abs().max() > 1e-4  # it did move the bones
        later = x.clone()
        later[:, 20:] = torch.flip(later[:, 20:], [1])  # other frames after frame 19
        torch.testing.assert_close(causal.infer(later)[:, :20], pulled[:, :20], atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="bone_test"):
        ModelConfig(bone_test=1.5)


def test_a_training_run_trains_one_lifter_and_fine_tunes_from_an_ensembles_first(tmp_path, tiny_checkpoint):
    from dataclasses import replace

    from occlupose.lifter import combine
    from occlupose.train import initial_weights, train

    loaded = load_checkpoint(tiny_checkpoint)
    a = loaded.model
    b = _perturbed(a, 3)
    both = combine([a, b])
    save_checkpoint(tmp_path / "two.pt", both, replace(loaded.config, model=both.cfg), 30)
    with pytest.raises(ValueError, match="ensemble is 2: a run trains one lifter"):
        train(replace(loaded.config, model=both.cfg), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    weights = initial_weights(replace(loaded.config, init=str(tmp_path / "two.pt")))
    first = a.state_dict()
    assert weights.keys() == first.keys() and all(torch.equal(weights[k], first[k]) for k in first)


def test_turn_by_ray_hand_case_and_round_trip(rng):
    from occlupose.lifter import turn_by_ray

    # straight ahead in the ray frame, 45 degrees to the right of the axis: half toward x, half toward z
    pose = np.zeros((1, 17, 3))
    pose[0, 5] = [0.0, 0.0, 0.2]
    cam = turn_by_ray(pose, np.array([[1.0, 0.0]]), True, to_camera=True)
    np.testing.assert_allclose(cam[0, 5], [0.2 * np.sqrt(0.5), 0.0, 0.2 * np.sqrt(0.5)], atol=1e-12)
    poses = rng.normal(size=(3, 6, 17, 3))
    centre = rng.normal(0, 0.3, (3, 6, 2))
    pinhole = np.array([True, False, True])
    there = turn_by_ray(poses, centre, pinhole, to_camera=False)
    np.testing.assert_allclose(there[1], poses[1])  # an orthographic view has no ray
    np.testing.assert_allclose(np.linalg.norm(there, axis=-1), np.linalg.norm(poses, axis=-1), atol=1e-12)
    np.testing.assert_allclose(turn_by_ray(there, centre, pinhole, to_camera=True), poses, atol=1e-12)


def test_a_ray_frame_lifter_turns_an_off_centre_person_by_their_ray(mocap):
    """A person 30 degrees right of the axis lifts to the 3D of the same person straight ahead (turned back by
    the ray), turned by the ray; with the camera unknown the 3D stays as if straight ahead."""
    from occlupose.camera import LEVEL_CAMERA, project_perspective, ray_rotations
    from occlupose.config import ModelConfig
    from occlupose.lifter import PoseLifter
    from occlupose.models import TCNConfig

    torch.manual_seed(0)
    model = PoseLifter(ModelConfig(tcn=TCNConfig(channels=8), use_2d_tcn=False, ray_frame=True,
                                   ray_input=True)).eval()
    clip = mocap.clips[mocap.keys("train")[0]][:40]
    poses = (clip - clip[:, :1]) @ LEVEL_CAMERA.T  # (T, 17, 3) camera frame, root-relative
    uv = np.array([np.tan(np.radians(30.0)), 0.0])
    rot = ray_rotations(uv)
    ray = np.array([*uv, 1.0]) / np.linalg.norm([*uv, 1.0])
    focal, cx, cy = 900.0, 640.0, 360.0
    off = project_perspective(poses + 5.0 * ray, focal, np.array([cx, cy]))
    ahead = project_perspective(poses @ rot + [0, 0, 5.0], focal, np.array([cx, cy]))
    conf = np.ones((40, 17))
    lifted_off = lift(model, off, conf, camera=(focal, cx, cy))
    lifted_ahead = lift(model, ahead, conf, camera=(focal, cx, cy))
    np.testing.assert_allclose(lifted_off, lifted_ahead @ rot.T, atol=2e-5)
    assert np.abs(lifted_off - lifted_ahead).max() > 0.01  # the turn is not nothing
    # without the camera the 2D is neither seen along its ray nor the 3D turned: the same weights as a plain lifter
    plain = PoseLifter(replace(model.cfg, ray_frame=False, ray_input=False)).eval()
    plain.load_state_dict(model.state_dict())
    np.testing.assert_allclose(lift(model, off, conf), lift(plain, off, conf), atol=1e-6)
