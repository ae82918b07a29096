"""The paper's 2D network: Eq. 1 targets and loss, decoding, the model, checkpoints and ONNX, COCO / MPII
loaders and crops, the synthetic Cylinder Man renderer, the training path, the end-to-end mode and the
video backend."""

import json

import numpy as np
import pytest
import torch
from poses import t_pose

from occlupose.camera import LEVEL_CAMERA, rot_z
from occlupose.cylinder import rotate
from occlupose.hourglass import (
    HourglassConfig,
    StackedHourglass,
    decode_heatmaps,
    export_onnx,
    heatmap_loss,
    heatmap_targets,
    load_hourglass,
    save_hourglass,
    soft_argmax,
    to_heatmap_coords,
    to_input_coords,
)
from occlupose.hourglass_train import (
    EndToEnd,
    HourglassTrainConfig,
    _auc,
    end_to_end_loss,
    evaluate_hourglass,
    train_hourglass,
)
from occlupose.keypoints2d import (
    OCCLUDED,
    VISIBLE,
    apply_affine,
    crop_matrix,
    load_coco_keypoints,
    load_mpii_json,
)
from occlupose.skeleton import COCO17_NAMES, JOINT_NAMES, J
from occlupose.synthetic import SyntheticConfig, SyntheticCylinderMan, render

TINY = HourglassConfig(stacks=2, features=16, depth=2, input_size=32, sigma=1.0)


def test_targets_are_gaussian_peaks_and_zero_for_occluded_joints():
    kp = torch.tensor([[3.0, 4.0], [5.0, 5.0]])
    maps = heatmap_targets(kp, torch.tensor([True, False]), 8, sigma=1.0)
    assert maps.shape == (2, 8, 8)
    assert maps[0, 4, 3] == pytest.approx(1.0)  # row y = 4, column x = 3
    assert maps[0, 4, 4] == pytest.approx(np.exp(-0.5))
    assert maps[0, 5, 4] == pytest.approx(np.exp(-1.0))
    assert maps[1].abs().max() == 0  # Eq. 1: all zero for an occluded keypoint


def test_decoding_recovers_subpixel_points_within_a_quarter_pixel():
    g = torch.Generator().manual_seed(0)
    kp = 2 + 12 * torch.rand(64, 17, 2, generator=g)
    maps = heatmap_targets(kp, torch.ones(64, 17, dtype=torch.bool), 16, sigma=1.5)
    pts, conf = decode_heatmaps(maps)
    err = (pts - kp).abs()
    assert err.max() <= 0.25 + 1e-6  # the quarter offset: never worse than plain arg-max's 0.5
    assert err.mean() < 0.2
    nearest = torch.exp(-((kp - kp.round()) ** 2).sum(-1) / (2 * 1.5 ** 2))
    np.testing.assert_allclose(conf, nearest, atol=1e-5)  # the peak value is the confidence
    # input pixels <-> heatmap pixels are inverse maps
    x = torch.tensor([0.0, 1.5, 63.0])
    np.testing.assert_allclose(to_input_coords(to_heatmap_coords(x)), x, atol=1e-6)


def test_soft_argmax_is_differentiable_and_accurate():
    kp = torch.tensor([[6.3, 9.7]])
    maps = heatmap_targets(kp, torch.tensor([True]), 16, sigma=1.5).requires_grad_()
    pts, conf = soft_argmax(maps, beta=50.0)
    assert (pts - kp).abs().max() < 0.35 and conf.item() > 0.9
    pts.sum().backward()
    assert maps.grad.abs().sum() > 0
    empty = soft_argmax(torch.zeros(1, 8, 8))[1]
    assert empty.item() == 0.0  # an all-zero map (occluded) has zero confidence


def test_heatmap_loss_known_value_and_weights():
    logits = [torch.zeros(2, 3, 4, 4), torch.zeros(2, 3, 4, 4)]  # sigmoid 0.5 everywhere
    target = torch.zeros(2, 3, 4, 4)
    weight = torch.ones(2, 3)
    # each stack: 16 pixels x 0.25 per map, averaged over maps; two stacks (intermediate supervision)
    assert heatmap_loss(logits, target, weight).item() == pytest.approx(2 * 16 * 0.25)
    target[0, 0] = 0.5  # that map's error is 0: but weight it out, and the mean is over the five others
    weight[0, 0] = 0
    assert heatmap_loss(logits, target, weight).item() == pytest.approx(2 * 16 * 0.25)
    weight[0, 0] = 1
    assert heatmap_loss(logits, target, weight).item() == pytest.approx(2 * 16 * 0.25 * 5 / 6)


def test_model_shapes_sigmoid_range_and_bad_sizes():
    model = StackedHourglass(TINY)
    out = model(torch.rand(3, 3, 32, 32))
    assert len(out) == 2 and all(o.shape == (3, 17, 8, 8) for o in out)
    maps = model.heatmaps(torch.rand(1, 3, 32, 32))
    assert maps.min() >= 0 and maps.max() <= 1
    assert HourglassConfig().heatmap_size == 64 and HourglassConfig().stacks == 8
    with pytest.raises(ValueError, match="multiple"):
        StackedHourglass(HourglassConfig(input_size=40, depth=2))


def test_checkpoint_round_trip_and_clear_errors(tmp_path):
    model = StackedHourglass(TINY).eval()
    save_hourglass(tmp_path / "hg.pt", model, {"note": "x"})
    loaded, meta = load_hourglass(tmp_path / "hg.pt")
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        np.testing.assert_allclose(loaded.heatmaps(x), model.heatmaps(x), atol=1e-6)
    assert meta == {"note": "x"} and loaded.cfg == TINY
    with pytest.raises(FileNotFoundError):
        load_hourglass(tmp_path / "missing.pt")
    torch.save({"format": "occlupose-lifter"}, tmp_path / "lifter.pt")
    with pytest.raises(ValueError, match="not an occlupose hourglass"):
        load_hourglass(tmp_path / "lifter.pt")
    (tmp_path / "junk.pt").write_text("junk")
    with pytest.raises(ValueError, match="not a readable hourglass"):
        load_hourglass(tmp_path / "junk.pt")
    ck = torch.load(tmp_path / "hg.pt", weights_only=False)
    ck["config"]["features"] = 8
    torch.save(ck, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="incompatible"):
        load_hourglass(tmp_path / "bad.pt")


def test_onnx_export_matches_torch(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    model = StackedHourglass(TINY).eval()
    export_onnx(model, tmp_path / "hg.onnx")
    sess = ort.InferenceSession(str(tmp_path / "hg.onnx"))
    x = torch.rand(3, 3, 32, 32)  # a batch size other than the export's example
    maps, kp, conf = sess.run(None, {"images": x.numpy()})
    with torch.no_grad():
        ref = model.heatmaps(x)
    ref_kp, ref_conf = decode_heatmaps(ref)
    np.testing.assert_allclose(maps, ref, atol=1e-5)
    np.testing.assert_allclose(conf, ref_conf, atol=1e-5)
    # an untrained net's maps are nearly flat: compare positions where the peak is unambiguous
    top2 = ref.flatten(-2).topk(2, -1).values
    clear = (top2[..., 0] - top2[..., 1] > 1e-4).numpy()
    assert clear.sum() > 10
    np.testing.assert_allclose(kp[clear], to_input_coords(ref_kp)[clear], atol=1e-4)


# --- data --------------------------------------------------------------------------------------------

def coco_file(tmp_path):
    i = np.arange(17)
    kp = np.stack([100 + 3 * i, 200 + 5 * i, np.full(17, 2)], 1).astype(float)
    kp[COCO17_NAMES.index("l_hip"), 2] = 1  # labelled, occluded
    kp[COCO17_NAMES.index("r_wrist")] = [0, 0, 0]  # not labelled
    data = {
        "images": [{"id": 7, "file_name": "a.jpg"}],
        "annotations": [
            {"image_id": 7, "bbox": [90, 190, 60, 120], "keypoints": kp.ravel().tolist(), "num_keypoints": 16},
            {"image_id": 7, "bbox": [0, 0, 10, 10], "keypoints": [0] * 51, "iscrowd": 1},
        ],
    }
    path = tmp_path / "coco.json"
    path.write_text(json.dumps(data))
    return path, kp


def test_coco_loader_maps_to_h36m_with_states(tmp_path):
    path, kp = coco_file(tmp_path)
    (s,) = load_coco_keypoints(path)
    assert s.image == "a.jpg"
    np.testing.assert_allclose(s.box, [90, 190, 150, 310])
    c = {n: i for i, n in enumerate(COCO17_NAMES)}
    np.testing.assert_allclose(s.keypoints[J["l_knee"]], kp[c["l_knee"], :2])
    np.testing.assert_allclose(s.keypoints[J["hip"]], (kp[c["l_hip"], :2] + kp[c["r_hip"], :2]) / 2)
    assert s.state[J["l_knee"]] == VISIBLE and s.state[J["l_hip"]] == OCCLUDED
    assert s.state[J["hip"]] == OCCLUDED  # derived from an occluded source
    assert s.state[J["r_wrist"]] == 0  # unlabelled: no loss at all
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"images": [], "annotations": [{"image_id": 1, "keypoints": [1, 2, 2]}]}))
    with pytest.raises(ValueError, match="51"):
        load_coco_keypoints(bad)
    bad.write_text("{")
    with pytest.raises(ValueError, match="JSON"):
        load_coco_keypoints(bad)
    with pytest.raises(FileNotFoundError):
        load_coco_keypoints(tmp_path / "none.json")


def test_mpii_loader(tmp_path):
    joints = np.arange(32, dtype=float).reshape(16, 2) * 10
    vis = [1] * 16
    vis[9] = 0  # head top not labelled
    visible = [1] * 16
    visible[0] = 0  # right ankle hidden
    path = tmp_path / "mpii.json"
    path.write_text(json.dumps([{"image": "b.jpg", "center": [50, 60], "scale": 1.0, "joints": joints.tolist(),
                                 "joints_vis": vis, "visible": visible}]))
    (s,) = load_mpii_json(path)
    np.testing.assert_allclose(s.box, [-50, -40, 150, 160])
    np.testing.assert_allclose(s.keypoints[J["spine"]], (joints[6] + joints[7]) / 2)
    np.testing.assert_allclose(s.keypoints[J["l_wrist"]], joints[15])
    assert s.state[J["r_ankle"]] == OCCLUDED and s.state[J["head"]] == 0 and s.state[J["l_wrist"]] == VISIBLE
    path.write_text(json.dumps([{"image": "b.jpg"}]))
    with pytest.raises(ValueError, match="not an MPII"):
        load_mpii_json(path)


def test_crop_keeps_aspect_and_flips_and_rotates():
    box = np.array([100.0, 50.0, 140.0, 250.0])  # 40 x 200: the long side sets the scale
    m = crop_matrix(box, 64, margin=1.25)
    np.testing.assert_allclose(apply_affine(m, np.array([120.0, 150.0])), [31.5, 31.5])
    np.testing.assert_allclose(apply_affine(m, np.array([120.0, 250.0])), [31.5, 31.5 + 100 * 64 / 250])
    mf = crop_matrix(box, 64, margin=1.25, flip=True)
    p = np.array([130.0, 160.0])
    np.testing.assert_allclose(apply_affine(mf, p)[0], 63 - apply_affine(m, p)[0])
    mr = crop_matrix(box, 64, margin=1.25, rotation_deg=90)
    q = apply_affine(mr, np.array([120.0 + 10, 150.0]))  # 10 px right of the centre
    np.testing.assert_allclose(q, [31.5, 31.5 - 10 * 64 / 250], atol=1e-9)


def test_keypoint_crops_follow_the_image(tmp_path):
    cv2 = pytest.importorskip("cv2")
    from occlupose.keypoints2d import CropAugment, KeypointCrops, PersonSample

    img = np.zeros((200, 300, 3), np.uint8)
    kp = np.tile([150.0, 100.0], (17, 1))
    kp[J["l_wrist"]] = [120, 70]  # a bright dot at the left wrist
    kp[J["r_wrist"]] = [400, 100]  # outside the crop
    cv2.circle(img, (120, 70), 3, (255, 255, 255), -1)
    cv2.imwrite(str(tmp_path / "p.png"), img)
    state = np.full(17, VISIBLE, np.int8)
    sample = PersonSample("p.png", np.array([100.0, 50.0, 200.0, 150.0]), kp, state)
    crops = KeypointCrops([sample], tmp_path, size=64, augment=CropAugment(flip_prob=1.0, rotation_prob=0.0,
                                                                          scale_range=0.0))
    images, kps, states = crops.batch(np.random.default_rng(0), 1)
    assert images.shape == (1, 3, 64, 64) and images.max() <= 1
    # flipped: the bright dot is now the person's *right* wrist, and it is where the image shows it
    x, y = kps[0, J["r_wrist"]]
    assert images[0, 0, int(round(y)), int(round(x))] > 0.9
    assert x > 31.5  # mirrored to the other side of the centre
    assert states[0, J["l_wrist"]] == OCCLUDED  # the original right wrist: out of the crop
    assert states[0, J["r_wrist"]] == VISIBLE
    bad = KeypointCrops([PersonSample("none.png", sample.box, kp, state)], tmp_path, 64)
    with pytest.raises(ValueError, match="unreadable"):
        bad.batch(np.random.default_rng(0), 1)


# --- synthetic renders -------------------------------------------------------------------------------

def render_t_pose(azimuth: float):
    cam = torch.as_tensor(rotate(t_pose(), LEVEL_CAMERA @ rot_z(np.array(azimuth))), dtype=torch.float32)[None]
    return render(cam, torch.tensor([[0.0, -0.1]]), torch.tensor([2.0]), 64)


def test_render_z_buffer_hand_cases():
    part, shade, kp = render_t_pose(0.0)  # from the front
    at = {n: (int(round(kp[0, J[n], 1].item())), int(round(kp[0, J[n], 0].item()))) for n in JOINT_NAMES}
    assert part[0][at["spine"]] == 1  # torso
    assert part[0][at["l_elbow"]] in (2, 4)  # the left arm's own cylinders
    assert part[0][at["head"]] == 0
    assert part[0, 0, 0] == -1 and shade.max() <= 1  # background in the corner
    # from the side with the right arm towards the camera: the right arm hides the left wrist's pixel
    part, _, kp = render_t_pose(np.pi / 2)  # as in test_cylinder: the left arm is the far one
    y, x = int(round(kp[0, J["l_wrist"], 1].item())), int(round(kp[0, J["l_wrist"], 0].item()))
    assert part[0, y, x] in (3, 5)


def test_synthetic_batches_are_labelled_consistently(mocap):
    poses = mocap.clips[mocap.keys("train")[0]][:200]
    syn = SyntheticCylinderMan(poses, SyntheticConfig(size=48, occluder_prob=1.0))
    images, kp, state = syn.batch(np.random.default_rng(0), 8)
    assert images.shape == (8, 3, 48, 48) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1
    assert set(np.unique(state)) <= {OCCLUDED, VISIBLE} and (state == OCCLUDED).any()
    assert (state == VISIBLE).mean() > 0.4
    inside = ((kp >= 0) & (kp <= 47)).all(-1)
    assert (state[~inside] == OCCLUDED).all()
    seq = syn.sequences(np.random.default_rng(1), 2, 5)
    assert seq[0].shape == (2, 5, 3, 48, 48) and seq[3].shape == (2, 5, 17, 3)
    with pytest.raises(ValueError, match="finite"):
        SyntheticCylinderMan(np.full((3, 17, 3), np.nan))


# --- training, evaluation, end to end ----------------------------------------------------------------

def test_short_training_lowers_the_loss_and_evaluates(tmp_path, mocap):
    poses = mocap.clips[mocap.keys("train")[0]]
    syn = SyntheticCylinderMan(poses, SyntheticConfig(size=32))
    fixed = syn.batch(np.random.default_rng(0), 8)

    class Fixed:  # one batch over and over: the network must be able to fit it
        def batch(self, rng, n):
            return fixed

    cfg = HourglassTrainConfig(model=TINY, steps=40, batch_size=8, lr=2e-3, log_every=10, threads=1)
    final = train_hourglass(cfg, Fixed(), tmp_path / "run", val_source=syn, progress=False)
    rows = (tmp_path / "run" / "log.csv").read_text().splitlines()[1:]
    losses = [float(r.split(",")[2]) for r in rows]
    assert losses[-1] < 0.8 * losses[0]
    model, meta = load_hourglass(final)
    assert meta["step"] == 40 and "validation" in meta
    r = evaluate_hourglass(model, syn, images=16)
    assert r["visible_joints"] + r["occluded_joints"] == 16 * 17
    with pytest.raises(FileExistsError):
        train_hourglass(cfg, syn, tmp_path / "run", progress=False)


def test_auc_hand_cases():
    assert _auc(np.array([0.9, 0.8]), np.array([0.1, 0.2])) == 1.0
    assert _auc(np.array([0.1]), np.array([0.9])) == 0.0
    assert _auc(np.array([0.5, 0.5]), np.array([0.5])) == 0.5


def test_torch_normalisation_hand_case():
    # per frame: the pelvis at c, 8 joints at c + (a, 0), 8 at c - (a, 0): centre c, RMS spread a sqrt(16 / 17)
    from occlupose.encoding import normalize_2d_torch

    a = torch.tensor([1.0, 2.0, 5.0])
    c = torch.tensor([[10.0, 20.0], [11.0, 20.0], [12.0, 21.0]])
    kp = c[:, None, :].repeat(1, 17, 1)
    kp[:, 1:9, 0] += a[:, None]
    kp[:, 9:17, 0] -= a[:, None]
    rel = torch.ones(1, 3, 17, dtype=torch.bool)
    norm, centre, scale = normalize_2d_torch(kp[None], rel)
    np.testing.assert_allclose(centre[0], c, atol=1e-6)
    assert scale.item() == pytest.approx(2.0 * np.sqrt(16 / 17))  # the median frame's spread
    np.testing.assert_allclose(norm[0, 2, 1], [5.0 / scale.item(), 0.0], atol=1e-6)
    none = normalize_2d_torch(kp[None], torch.zeros_like(rel))[2]
    assert none.item() == 1.0  # nothing reliable: no scale to measure


def test_end_to_end_gradients_reach_the_hourglass(mocap):
    from occlupose.config import ModelConfig
    from occlupose.encoding import InputEncoding
    from occlupose.lifter import PoseLifter
    from occlupose.models import TCNConfig

    poses = mocap.clips[mocap.keys("train")[0]]
    syn = SyntheticCylinderMan(poses, SyntheticConfig(size=32), np.array([len(poses)]))
    images, kp, state, p3 = syn.sequences(np.random.default_rng(0), 2, 8)
    # b = 0: everything reliable, so every keypoint feeds the TCNs
    net = EndToEnd(StackedHourglass(TINY), PoseLifter(ModelConfig(tcn=TCNConfig(channels=16, dropout=0.0),
                                                                  encoding=InputEncoding(threshold=0.0))))
    out = net(torch.from_numpy(images))
    assert out["pred_3d"].shape == (2, 8, 17, 3) and out["keypoints"].shape == (2, 8, 17, 2)
    terms = end_to_end_loss(out, torch.from_numpy(kp), torch.from_numpy(state.astype(np.int64)),
                            torch.from_numpy(p3), TINY)
    assert all(torch.isfinite(v) for v in terms.values())
    terms["l3d"].backward()  # the 3D loss alone: its gradient must flow through the soft-argmax
    g = sum(p.grad.abs().sum() for p in net.hourglass.parameters() if p.grad is not None)
    assert g > 0
    # fine-tuning keeps the batch-norm statistics of the separate training (a few clips cannot re-estimate them)
    from occlupose.hourglass_train import train_end_to_end

    bn = net.hourglass.stem[1]
    before = bn.running_mean.clone()
    hist = train_end_to_end(net, syn, steps=2, clips=1, frames=8, progress=False)
    assert len(hist) == 2 and torch.equal(bn.running_mean, before)
    net.zero_grad()
    # b = 1: nothing reliable (an untrained sigmoid never reaches 1): the hourglass only learns from its maps
    from dataclasses import replace

    net.lifter.cfg = replace(net.lifter.cfg, encoding=InputEncoding(threshold=1.0))
    out = net(torch.from_numpy(images))
    assert not out["reliable"].any()


def test_hourglass_cli_train_evaluate_export(tmp_path, mocap, capsys):
    pytest.importorskip("cv2")
    from occlupose.cli import main

    run = tmp_path / "run"
    args = ["hourglass", "train", "--synthetic", "--data", str(mocap.path), "-o", str(run), "--stacks", "1",
            "--features", "16", "--depth", "2", "--input-size", "32", "--steps", "3", "--batch-size", "4",
            "--threads", "1", "--quiet"]
    assert main(args) == 0
    assert "peak error on visible joints" in capsys.readouterr().out
    assert main(args) == 2 and "--overwrite" in capsys.readouterr().err  # a used run folder is not replaced
    fig = tmp_path / "fig.png"
    assert main(["hourglass", "evaluate", str(run / "final.pt"), "--synthetic", "--data", str(mocap.path),
                 "--count", "8", "--figure", str(fig)]) == 0
    assert fig.stat().st_size > 1000
    assert main(["hourglass", "evaluate", str(run / "final.pt"), "--synthetic", "--count", "8",
                 "--figure", str(fig)]) == 2
    assert main(["hourglass", "train", "-o", str(tmp_path / "x")]) == 2
    assert "--synthetic" in capsys.readouterr().err
    assert main(["hourglass", "export", str(tmp_path / "none.pt"), "-o", str(tmp_path / "m.onnx")]) == 2
