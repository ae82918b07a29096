"""The ONNX lifter computes what PyTorch does, and its JSON contract is enough to reproduce ``lift``."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from occlupose.cli import main
from occlupose.config import ModelConfig, TrainConfig
from occlupose.encoding import InputEncoding, encode
from occlupose.lifter import LoadedModel, PoseLifter, lift, load_checkpoint
from occlupose.lifter_export import contract, export_lifter_onnx
from occlupose.models import TCNConfig

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("use_2d_tcn, causal, shift, ensemble, bones",
                         [(False, False, False, 1, 0.0), (True, False, False, 1, 0.0), (False, True, False, 1, 0.0),
                          (False, False, True, 1, 0.0), (True, False, True, 2, 0.5), (False, True, False, 1, 0.5)])
def test_onnx_matches_torch_for_any_length(tmp_path, use_2d_tcn, causal, shift, ensemble, bones):
    torch.manual_seed(0)
    cfg = ModelConfig(tcn=TCNConfig(channels=16, causal=causal), use_2d_tcn=use_2d_tcn, flip_test=True,
                      shift_test=shift, encoding=InputEncoding(mode="soft", causal=causal), ensemble=ensemble,
                      bone_test=bones)
    model = PoseLifter(cfg).eval()
    sess = _session(export_lifter_onnx(model, tmp_path / "m.onnx"))
    rng = np.random.default_rng(1)
    # lengths below, at and off the multiple of 4 the TCN pads to (even and odd: medians); past a causal model's
    # bone window (128 frames)
    for t in (1, 4, 6, 37, 150) if causal else (1, 4, 6, 37):
        x = rng.normal(size=(2, t, 17, 3)).astype(np.float32)
        with torch.no_grad():
            ref = model.infer(torch.from_numpy(x)).numpy()
        out = sess.run(["poses"], {"x": x})[0]
        assert out.shape == (2, t, 17, 3)
        assert np.abs(out - ref).max() <= 1e-4


def test_onnx_matches_torch_with_stem_extras(tmp_path):
    """Confidence products and normalised averages are formed inside the network: the graph carries them."""
    torch.manual_seed(0)
    cfg = ModelConfig(tcn=TCNConfig(channels=16, confidence_products=True, normalized_sigmas=(2.0, 6.0)),
                      flip_test=True, shift_test=True, encoding=InputEncoding(mode="soft"))
    model = PoseLifter(cfg).eval()
    sess = _session(export_lifter_onnx(model, tmp_path / "m.onnx"))
    rng = np.random.default_rng(3)
    for t in (1, 5, 64):  # shorter and longer than the averages' 37 taps
        x = rng.normal(size=(2, t, 17, 3)).astype(np.float32)
        x[..., 2] = rng.uniform(0.0, 1.0, size=(2, t, 17))
        with torch.no_grad():
            ref = model.infer(torch.from_numpy(x)).numpy()
        assert np.abs(sess.run(["poses"], {"x": x})[0] - ref).max() <= 1e-4


def test_contract_reproduces_lift(tmp_path):
    """A caller that follows the JSON (encode with its settings, frames at its fps) gets ``lift``'s 3D."""
    loaded = load_checkpoint()
    loaded.model.cfg = replace(loaded.model.cfg, flip_test=True)
    sess = _session(export_lifter_onnx(loaded.model, tmp_path / "d.onnx"))
    terms = contract(loaded)
    assert terms["fps"] == loaded.model.cfg.fps and len(terms["joints"]) == 17
    rng = np.random.default_rng(2)
    t = 90
    base = rng.normal(size=(17, 2)) * 40 + [320, 240]
    kp = base + np.cumsum(rng.normal(size=(t, 17, 2)), 0)  # pixels, a person drifting
    conf = rng.uniform(0.05, 1.0, size=(t, 17))
    kp[10:14, 0] = np.nan  # the pelvis missing for a few frames: the centre is interpolated
    conf[10:14, 0] = 0.0
    x = encode(kp, conf, InputEncoding(**terms["encoding"])).x
    out = sess.run(["poses"], {"x": x[None]})[0][0]
    ref = lift(loaded.model, kp, conf, fps=terms["fps"])
    assert np.abs(out - ref).max() <= 1e-4
    assert np.abs(out[:, 0]).max() == 0.0  # root-relative: the pelvis is the origin


def test_cli_writes_graph_and_contract_and_keeps_existing(tmp_path, capsys):
    out = tmp_path / "lifter.onnx"
    assert main(["export-lifter", "-o", str(out)]) == 0
    terms = json.loads(out.with_suffix(".json").read_text())
    assert terms["format"] == "occlupose-lifter-onnx" and terms["input"]["name"] == "x"
    before = out.read_bytes()
    assert main(["export-lifter", "-o", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main(["export-lifter", "-o", str(out), "--overwrite"]) == 0


def test_contract_states_the_missing_flag_vote():
    """A checkpoint whose flag is voted over frames says so (and how), so a caller does not threshold per frame."""
    for flag_frames, causal, says in ((1, False, "its confidence >= 0.3"),
                                      (5, False, "the 5 frames centred on this one"),
                                      (3, True, "this frame and the 2 before it")):
        enc = InputEncoding(mode="paper", flag_frames=flag_frames, causal=causal)
        model = PoseLifter(ModelConfig(tcn=TCNConfig(channels=8, causal=causal), use_2d_tcn=False, encoding=enc))
        loaded = LoadedModel(model=model, config=TrainConfig(), name="m", meta={})
        terms = contract(loaded)
        assert says in terms["input"]["reliable"]
        assert InputEncoding(**terms["encoding"]) == enc
        assert terms["bone_pull_window"] == (enc.causal_window if causal else None)  # the pull's, where on


def test_contract_reproduces_lift_for_a_ray_frame_model(tmp_path):
    """The view steps of the JSON (keypoints seen along the pelvis's ray, the 3D turned back) around the graph
    give ``lift``'s 3D with the camera."""
    from occlupose.camera import ray_rotations

    torch.manual_seed(0)
    cfg = ModelConfig(tcn=TCNConfig(channels=16), use_2d_tcn=False, encoding=InputEncoding(mode="soft"),
                      ray_frame=True, ray_input=True)
    model = PoseLifter(cfg).eval()
    loaded = LoadedModel(model=model, config=TrainConfig(model=cfg), name="ray", meta={})
    terms = contract(loaded)
    assert terms["view"]["ray_frame"] and terms["view"]["ray_input"]
    assert "straight ahead" in terms["view"]["without_a_camera"]
    plain = replace(cfg, ray_frame=False, ray_input=False)
    plain_model = LoadedModel(model=PoseLifter(plain), config=TrainConfig(model=plain), name="p", meta={})
    assert contract(plain_model)["view"] is None
    assert contract(load_checkpoint("causal"))["view"]["ray_input"]  # the packaged causal lifter: along the ray too
    sess = _session(export_lifter_onnx(model, tmp_path / "r.onnx"))
    rng = np.random.default_rng(4)
    t, (f, cx, cy) = 60, (800.0, 640.0, 360.0)
    kp = rng.normal(size=(17, 2)) * 60 + [1000, 300] + np.cumsum(rng.normal(size=(t, 17, 2)), 0)  # right of centre
    conf = rng.uniform(0.05, 1.0, size=(t, 17))
    enc = InputEncoding(**terms["encoding"])
    uv = (kp - [cx, cy]) / f
    c = encode(uv, conf, enc).centre  # step 2's centre of (u, v)
    rot = ray_rotations(c)  # (T, 3, 3)
    rays = np.einsum("tji,tkj->tki", rot, np.concatenate([uv, np.ones((t, 17, 1))], -1))  # R^T (u, v, 1)
    seen = rays[..., :2] / rays[..., 2:]
    out = sess.run(["poses"], {"x": encode(seen, conf, enc).x[None]})[0][0]
    out = np.einsum("tij,tkj->tki", rot, out)  # R p
    ref = lift(model, kp, conf, fps=terms["fps"], camera=(f, cx, cy))
    assert np.abs(out - ref).max() <= 1e-4
    assert np.abs(ref - lift(model, kp, conf, fps=terms["fps"])).max() > 1e-3  # the view steps matter
