"""The lifter's input encoding: numpy and torch agree, each mode means what it says, checkpoints carry it, and
old configs still load."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from occlupose.config import ModelConfig, TrainConfig, from_dict, load_config, to_dict
from occlupose.encoding import InputEncoding, encode, encode_torch, normalize_2d_torch
from occlupose.occlusion import normalize_2d


def random_track(rng, b=3, t=24):
    kp = rng.uniform(50, 400, (b, t, 17, 2))
    conf = rng.uniform(0, 1, (b, t, 17))
    conf[0, 3:9, 0] = 0.05  # the pelvis missing for a stretch: its centre is interpolated
    conf[1, :, 0] = 0.1  # never a pelvis: the reliable joints' mean
    kp[2, 5, 4] = np.nan  # a position that does not exist
    conf[2, 10:12] = 0.0  # frames with nothing reliable
    return kp, conf


@pytest.mark.parametrize("mode,flag_frames,confidence_frames", [
    ("paper", 1, 1), ("soft", 1, 1), ("unaware", 1, 1), ("gated", 1, 1), ("paper", 5, 1), ("soft", 3, 1),
    ("soft", 1, 5), ("paper", 3, 5)])
def test_numpy_and_torch_encodings_agree(mode, flag_frames, confidence_frames):
    kp, conf = random_track(np.random.default_rng(3))
    enc = InputEncoding(mode=mode, flag_frames=flag_frames, confidence_frames=confidence_frames)
    a = encode(kp, conf, enc)
    x, centre, scale, reliable = encode_torch(torch.from_numpy(kp), torch.from_numpy(conf), enc)
    np.testing.assert_array_equal(a.reliable, reliable.numpy())
    np.testing.assert_allclose(a.centre, centre.numpy(), atol=1e-9)
    np.testing.assert_allclose(a.scale, scale.numpy(), rtol=1e-7)
    np.testing.assert_allclose(a.x, x.numpy(), atol=1e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_confidence_is_averaged_over_the_frames_the_joint_was_seen_in(causal):
    """``confidence_frames`` 3: the C* shown to the network becomes the mean over its frame and the ones either
    side (causal: the two before), among the frames where the joint has a position, cut at the ends; a joint with
    none gets 0."""
    from occlupose.encoding import average_confidence

    conf = np.array([0.9, 0.0, 0.6, 0.3, 0.6, 1.0])[:, None]
    exists = np.array([True, True, False, True, True, True])[:, None]
    got = average_confidence(conf, exists, InputEncoding(mode="soft", confidence_frames=3, causal=causal))[:, 0]
    want = [0.9, 0.45, 0.0, 0.15, 0.45, 0.633333] if causal else [0.45, 0.45, 0.0, 0.45, 0.633333, 0.8]
    np.testing.assert_allclose(got, want, atol=1e-6)
    kp = np.where(exists[..., None], np.ones((6, 17, 2)), np.nan)
    e = encode(kp, np.repeat(conf, 17, 1), InputEncoding(mode="soft", confidence_frames=3, causal=causal))
    np.testing.assert_allclose(e.x[:, 5, 2], want, atol=1e-6)  # the third channel carries it
    # which joints are reliable is still each frame's own C* against b: frame 1 (0.0, averaged 0.45) is not
    np.testing.assert_array_equal(e.reliable[:, 5], [True, False, False, True, True, True])
    with pytest.raises(ValueError, match="odd"):
        InputEncoding(confidence_frames=4)


def test_torch_scale_is_numpys_median_for_an_even_number_of_frames():
    # two frames, 16 joints 1 and 3 from the pelvis: RMS spreads k and 3k (k = sqrt(16/17)); numpy's median is
    # 2k, torch.nanmedian would give k
    kp = np.zeros((1, 2, 17, 2))
    kp[0, 0, 1:, 0], kp[0, 1, 1:, 0] = 1.0, 3.0
    rel = np.ones((1, 2, 17), bool)
    k = np.sqrt(16 / 17)
    assert normalize_2d(kp, rel)[2][0] == pytest.approx(2 * k)
    assert normalize_2d_torch(torch.from_numpy(kp), torch.from_numpy(rel))[2].item() == pytest.approx(2 * k)


def test_pelvis_centre_is_interpolated_where_it_is_missing():
    kp = np.zeros((3, 17, 2))
    kp[:, 0] = [[0.0, 0.0], [50.0, 50.0], [10.0, 20.0]]  # frame 1's pelvis guess is wrong and unreliable
    kp[:, 1:, 0] = kp[:, :1, 0] + np.linspace(-5, 5, 16)
    conf = np.ones((3, 17))
    conf[1, 0] = 0.0
    e = encode(kp, conf, InputEncoding(mode="paper"))
    np.testing.assert_allclose(e.centre[1], [5.0, 10.0])


def test_each_mode_shows_what_it_says():
    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 100, (10, 17, 2))
    conf = np.full((10, 17), 0.9)
    conf[:, 13] = 0.2  # a low-confidence guess
    kp[4, 12] = np.nan  # no guess at all
    paper = encode(kp, conf, InputEncoding(mode="paper"))
    soft = encode(kp, conf, InputEncoding(mode="soft"))
    unaware = encode(kp, conf, InputEncoding(mode="unaware"))
    # the same normalisation in all three (set by the reliable joints)
    np.testing.assert_allclose(paper.centre, soft.centre)
    np.testing.assert_allclose(paper.scale, soft.scale)
    assert (paper.x[:, 13] == 0).all()  # paper: the guess is thrown away, flag 0
    np.testing.assert_allclose(paper.x[:, 0, 2], 1.0)  # ... and a reliable joint is flagged 1
    np.testing.assert_allclose(paper.x[:, 1, :2], (kp[:, 1] - paper.centre) / paper.scale, rtol=1e-5)
    guess = (kp[:, 13] - soft.centre) / soft.scale
    np.testing.assert_allclose(soft.x[:, 13, :2], guess, rtol=1e-5)  # soft: the guess is kept ...
    np.testing.assert_allclose(soft.x[:, 13, 2], 0.2)  # ... with its confidence
    np.testing.assert_allclose(soft.x[:, 0, 2], 0.9)
    np.testing.assert_allclose(unaware.x[:, 13, 2], 1.0)  # unaware: every guess is as good as any
    gated = encode(kp, conf, InputEncoding(mode="gated"))
    assert (gated.x[:, 13] == 0).all()  # gated: below b dropped as in the paper ...
    np.testing.assert_allclose(gated.x[:, 0, 2], 0.9)  # ... a kept joint carries its confidence
    np.testing.assert_allclose(gated.x[:, 1, :2], paper.x[:, 1, :2])
    for e in (paper, soft, unaware, gated):  # a position that does not exist is zero with a zero third channel
        assert (e.x[4, 12] == 0).all() and np.isfinite(e.x).all()
    assert not paper.reliable[:, 13].any() and paper.reliable[:, 0].all()
    with pytest.raises(ValueError, match="mode"):
        InputEncoding(mode="hard")
    with pytest.raises(ValueError, match=r"\(\.\.\., 17\)"):
        encode(kp, conf[:, :16])


def test_a_soft_model_reads_the_confidences_a_paper_model_only_the_threshold(tmp_path):
    from occlupose.lifter import PoseLifter, lift, load_checkpoint, save_checkpoint
    from occlupose.models import TCNConfig

    rng = np.random.default_rng(5)
    kp = rng.uniform(100, 300, (30, 17, 2))
    hi, lo = np.full((30, 17), 0.9), np.full((30, 17), 0.9)
    lo[:, 5] = 0.6  # still above b: a paper model cannot tell
    torch.manual_seed(0)
    for mode, differs in (("paper", False), ("soft", True)):
        cfg = TrainConfig(model=ModelConfig(tcn=TCNConfig(channels=8), encoding=InputEncoding(mode=mode,
                                                                                             threshold=0.5)))
        save_checkpoint(tmp_path / f"{mode}.pt", PoseLifter(cfg.model), cfg, 0)
        loaded = load_checkpoint(tmp_path / f"{mode}.pt")
        assert loaded.model.cfg.encoding == InputEncoding(mode=mode, threshold=0.5)  # the checkpoint carries it
        a, b = lift(loaded.model, kp, hi), lift(loaded.model, kp, lo)
        assert (np.abs(a - b).max() > 1e-6) == differs
        # the checkpoint's b is the default: 0.4 is missing for this model, kept when the caller lowers b
        mid = hi.copy()
        mid[:, 7] = 0.4
        assert np.abs(lift(loaded.model, kp, mid) - a).max() > 1e-6
        if mode == "paper":  # at b = 0.3, 0.4 is as reliable as 0.9
            np.testing.assert_allclose(lift(loaded.model, kp, mid, threshold=0.3),
                                       lift(loaded.model, kp, hi, threshold=0.3), atol=1e-6)


def test_configs_written_before_the_encoding_still_load():
    old = to_dict(TrainConfig())
    del old["model"]["encoding"], old["pose_regularizer"]
    old["model"]["occlusion_aware"] = False
    old["augment"]["filter"] = {"sigma": 0.15, "threshold": 0.2}
    old["use_pose_regularizer"], old["regularize_supervised"] = True, True
    cfg = from_dict(TrainConfig, old)
    assert cfg.model.encoding == InputEncoding(mode="unaware", threshold=0.2, sigma=0.15)
    assert cfg.pose_regularizer == "all"
    old.update(use_pose_regularizer=False)
    assert from_dict(TrainConfig, old).pose_regularizer == "off"
    old.update(use_pose_regularizer=True, regularize_supervised=False)
    assert from_dict(TrainConfig, old).pose_regularizer == "2d_only"


def test_a_config_inherits_its_base_section_by_section(tmp_path):
    (tmp_path / "base.yaml").write_text("steps: 7\nbatch_size: 3\nmodel:\n  use_2d_tcn: false\n"
                                        "  tcn: {channels: 12}\n")
    (tmp_path / "rows").mkdir()
    (tmp_path / "rows" / "r.yaml").write_text("base: ../base.yaml\nsteps: 9\nmodel:\n  encoding: {mode: soft}\n"
                                              "pose_regularizer: off\n")
    cfg = load_config(tmp_path / "rows" / "r.yaml")
    assert (cfg.steps, cfg.batch_size, cfg.model.use_2d_tcn, cfg.model.tcn.channels) == (9, 3, False, 12)
    assert cfg.model.encoding.mode == "soft" and cfg.pose_regularizer == "off"
    assert cfg == replace(TrainConfig(), steps=9, batch_size=3, pose_regularizer="off", model=replace(
        ModelConfig(), use_2d_tcn=False, tcn=replace(ModelConfig().tcn, channels=12), encoding=InputEncoding("soft")))
    (tmp_path / "loop.yaml").write_text("base: loop2.yaml\n")
    (tmp_path / "loop2.yaml").write_text("base: loop.yaml\n")
    with pytest.raises(ValueError, match="loop"):
        load_config(tmp_path / "loop.yaml")
    (tmp_path / "lost.yaml").write_text("base: nowhere.yaml\n")
    with pytest.raises(FileNotFoundError, match="nowhere.yaml"):
        load_config(tmp_path / "lost.yaml")
    with pytest.raises(ValueError, match="pose_regularizer"):
        TrainConfig(pose_regularizer="sometimes")


def test_flip_averaging_makes_the_lifter_mirror_symmetric():
    """With ``flip_test`` the 3D of a mirrored input is exactly the mirrored 3D; without it, an untrained
    network is not symmetric at all."""
    from occlupose.lifter import PoseLifter
    from occlupose.models import TCNConfig
    from occlupose.skeleton import FLIP_PERMUTATION

    torch.manual_seed(0)
    kp, conf = random_track(np.random.default_rng(8), b=3, t=16)
    x = torch.from_numpy(encode(kp, conf, InputEncoding(mode="soft")).x)
    mirror = torch.tensor([-1.0, 1.0, 1.0])
    x_m = x[..., FLIP_PERMUTATION, :] * mirror
    model = PoseLifter(ModelConfig(tcn=TCNConfig(channels=8), encoding=InputEncoding(mode="soft"))).eval()
    with torch.no_grad():
        plain = model.infer(x)
        assert (model.infer(x_m)[..., FLIP_PERMUTATION, :] * mirror - plain).abs().max() > 1e-3
        model.cfg = replace(model.cfg, flip_test=True)
        both = model.infer(x)
        torch.testing.assert_close(model.infer(x_m)[..., FLIP_PERMUTATION, :] * mirror, both, atol=1e-5, rtol=0)
        assert (both - plain).abs().max() > 1e-4


def test_grid_averaging_is_the_mean_over_the_four_starts_in_the_stride_grid(monkeypatch):
    """``shift_test``: the 3D is the mean of the network's output for the sequence with its first frame repeated
    0-3 times before it (its last 3-0 times after), each cropped back; with flip averaging as well, all 8 are
    averaged. An untrained network's outputs differ between those starts; a causal model is left alone."""
    from occlupose.lifter import PoseLifter
    from occlupose.models import TCNConfig
    from occlupose.skeleton import FLIP_PERMUTATION

    torch.manual_seed(0)
    kp, conf = random_track(np.random.default_rng(9), t=23)
    x = torch.from_numpy(encode(kp, conf, InputEncoding(mode="soft")).x)
    model = PoseLifter(ModelConfig(tcn=TCNConfig(channels=8), encoding=InputEncoding(mode="soft"))).eval()
    mirror = torch.tensor([-1.0, 1.0, 1.0])

    def started(v: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for s in range(4):
            padded = torch.cat([v[:, :1].repeat(1, s, 1, 1), v, v[:, -1:].repeat(1, 3 - s, 1, 1)], 1)
            out.append(model(padded)[1][:, s:s + 23])
        return out

    with torch.no_grad():
        each = started(x)
        assert (each[1] - each[0]).abs().max() > 1e-3
        model.cfg = replace(model.cfg, shift_test=True)
        torch.testing.assert_close(model.infer(x), torch.stack(each).mean(0), atol=1e-6, rtol=0)
        model.cfg = replace(model.cfg, shift_test=True, flip_test=True)
        flipped = [y[..., FLIP_PERMUTATION, :] * mirror for y in started(x[..., FLIP_PERMUTATION, :] * mirror)]
        both = model.infer(x)
        torch.testing.assert_close(both, torch.stack(each + flipped).mean(0), atol=1e-6, rtol=0)
        monkeypatch.setattr("occlupose.lifter.ONE_BATCH_FRAMES", 10)  # a long video: one variant at a time
        torch.testing.assert_close(model.infer(x), both, atol=1e-6, rtol=0)
        causal = PoseLifter(ModelConfig(tcn=TCNConfig(channels=8, causal=True),
                                        encoding=InputEncoding(mode="soft", causal=True))).eval()
        plain = causal.infer(x)
        causal.cfg = replace(causal.cfg, shift_test=True)
        torch.testing.assert_close(causal.infer(x), plain, atol=0, rtol=0)


def test_the_causal_encoding_uses_only_the_past():
    rng = np.random.default_rng(5)
    kp, conf = random_track(rng, t=60)
    enc = InputEncoding(mode="soft", causal=True, causal_window=16)
    a = encode(kp, conf, enc)
    kp2, conf2 = kp.copy(), conf.copy()
    kp2[:, 40:] += rng.normal(0, 60, kp2[:, 40:].shape)
    conf2[:, 40:] = rng.uniform(0, 1, conf2[:, 40:].shape)
    b = encode(kp2, conf2, enc)
    np.testing.assert_array_equal(a.x[:, :40], b.x[:, :40])
    assert a.scale.shape == (3, 60) and a.frame_scale().shape == (3, 60, 1, 1)
    with pytest.raises(ValueError, match="causal"):
        encode_torch(torch.from_numpy(kp), torch.from_numpy(conf), enc)


def test_causal_centre_and_scale_by_hand():
    """A still person whose pelvis vanishes at frame 3 keeps the centre of frame 2; with every joint at distance 1
    or 3 from the pelvis the scale is their RMS, and a frame that doubles in size moves the window's median only
    once it is most of the window."""
    kp = np.zeros((6, 17, 2))
    kp[:, 1:9, 0] = 1.0
    kp[:, 9:, 1] = 3.0
    kp[:, :, :] += [10.0, 20.0]
    kp[4:, 1:] = (kp[4:, 1:] - [10.0, 20.0]) * 2 + [10.0, 20.0]
    conf = np.ones((6, 17))
    conf[3:, 0] = 0.0
    kp[3:, 0] = [99.0, 99.0]  # a wrong guess for the hidden pelvis: not used
    e = encode(kp, conf, InputEncoding(mode="soft", causal=True, causal_window=3))
    np.testing.assert_allclose(e.centre, np.tile([10.0, 20.0], (6, 1)))
    rms1 = np.sqrt((8 * 1 + 8 * 9) / 17)
    rms_hidden = np.sqrt((8 * 1 + 8 * 9) / 16)  # frame 3: the pelvis (distance 0) is no longer reliable
    np.testing.assert_allclose(e.scale[:3], rms1)
    np.testing.assert_allclose(e.scale[3], np.median([rms1, rms1, rms_hidden]))
    np.testing.assert_allclose(e.scale[5], np.median([rms_hidden, 2 * rms_hidden, 2 * rms_hidden]))


def test_the_missing_flag_vote_by_hand():
    """C* of one joint over 11 frames, reliable (>= 0.3) as 1 1 0 1 1 0 0 1 0 0 0; the frame at 8 is not seen."""
    conf = np.array([0.9, 0.8, 0.1, 0.7, 0.9, 0.2, 0.1, 0.6, 0.0, 0.1, 0.2])[:, None].repeat(17, 1)
    kp = np.random.default_rng(0).uniform(0, 100, (11, 17, 2))
    kp[8, 0] = np.nan
    pelvis = [encode(kp, conf, InputEncoding(mode="paper", flag_frames=k, causal=c)).reliable[:, 0].astype(int)
              for k, c in ((1, False), (3, False), (3, True), (5, False))]
    np.testing.assert_array_equal(pelvis[0], [1, 1, 0, 1, 1, 0, 0, 1, 0, 0, 0])
    # centred 3: the lone drop at 2 and the lone trust at 7 are outvoted; 8 does not exist, so 7 and 9 are
    # decided by the two frames seen in their windows: a tie (1 of 2) is not a majority
    np.testing.assert_array_equal(pelvis[1], [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    # causal 3 (this frame and the two before): frame 5 still trusted (1 1 0), frame 7 not (0 0 1)
    np.testing.assert_array_equal(pelvis[2], [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0])
    # centred 5: frame 4 sees 0 1 1 0 0 -> dropped, frame 5 sees 1 1 0 0 1 -> trusted, frame 6 sees 1 0 0 1 (8
    # unseen) -> a tie, dropped
    np.testing.assert_array_equal(pelvis[3], [1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0])
    conf[8, 1] = 0.9  # joint 1 exists at 8 and is trusted there: frames 7 (0 1 1) and 8 (1 1 0) are trusted
    other = encode(kp, conf, InputEncoding(mode="paper", flag_frames=3)).reliable[:, 1].astype(int)
    np.testing.assert_array_equal(other, [1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 0])
    with pytest.raises(ValueError, match="odd"):
        InputEncoding(flag_frames=4)
