"""The lifter outside PyTorch: an ONNX graph and the contract a caller needs to feed it.

The graph is the network alone (2D TCN if any, 3D TCN, test-time flip and grid averaging and the bone-length
pull when the model uses them), with a dynamic batch and number of frames. What comes before it (the input
encoding, :func:`encoding.encode`) and the frame rate are the caller's part and are written beside the graph as
JSON (:func:`contract`), so a browser or game engine can reproduce them; ``docs/lifter-onnx.md`` spells the
arithmetic out. Normalisation stays out of the graph because it interpolates the pelvis over time (a running max
over frames), which ONNX has no operator for.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from .lifter import LoadedModel, PoseLifter
from .skeleton import JOINT_NAMES

CONTRACT_FORMAT = "occlupose-lifter-onnx"
CONTRACT_VERSION = 2  # 2: the view block (ray-frame models)


class _Deployed(nn.Module):
    """(B, T, 17, 3) encoded input -> (B, T, 17, 3) poses, as :meth:`PoseLifter.infer`."""

    def __init__(self, model: PoseLifter):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.infer(x)


def export_lifter_onnx(model: PoseLifter, path: str | os.PathLike, opset: int = 17) -> Path:
    """Write ``model`` as ONNX: input ``x`` (B, T, 17, 3) float32, output ``poses`` (B, T, 17, 3) metres;
    B and T dynamic (any T >= 1)."""
    path = Path(path)
    wrapped = _Deployed(model).eval()
    # a length the network must pad (to a multiple of 4), so the traced graph keeps the padding other lengths
    # need; grid averaging adds 3 frames before the network sees it
    example = torch.zeros(1, 14 if model.cfg.grid_averaged else 13, len(JOINT_NAMES), 3)
    with warnings.catch_warnings():  # the exporter's tracing notes are not the user's concern
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(wrapped, (example,), str(path), input_names=["x"], output_names=["poses"],
                              opset_version=opset, dynamo=False,
                              dynamic_axes={"x": {0: "batch", 1: "frames"}, "poses": {0: "batch", 1: "frames"}})
        except ModuleNotFoundError as exc:
            raise ValueError(f"ONNX export needs the 'onnx' package: pip install 'occlupose[onnx]' ({exc})") from exc
    return path


def contract(loaded: LoadedModel) -> dict:
    """What a caller must do around the graph, read from the checkpoint (JSON-ready)."""
    cfg = loaded.model.cfg
    enc = cfg.encoding
    b = enc.threshold
    if enc.flag_frames == 1:
        reliable = f"a joint is reliable in a frame where it has a position and its confidence >= {b}"
    else:
        window = (f"this frame and the {enc.flag_frames - 1} before it" if enc.causal
                  else f"the {enc.flag_frames} frames centred on this one (fewer at the sequence's ends)")
        reliable = (f"a joint is reliable in a frame where it has a position and, among {window} in which it has "
                    f"a position, its confidence is >= {b} in more than half")
    third = {"paper": "1 if the joint is reliable (its position is then kept), else 0 (its position is set to 0)",
             "soft": "the joint's confidence C* in [0, 1] (every position is kept)",
             "unaware": "1 for every joint that has a position",
             "gated": "the joint's confidence C* if it is reliable (its position is then kept), else 0 "
                      "(its position is set to 0)"}[enc.mode]
    centre = ("per frame, the pelvis (joint 0) where it is reliable; linearly interpolated between such frames and "
              "held before the first and after the last; if no frame has it, the mean of the reliable joints, "
              "likewise")
    scale = (f"one number per sequence: the median, over the frames with >= {enc.min_joints} reliable joints (if "
             "none has that many, over the frames with any), of the root-mean-square distance of those joints "
             "from the frame's centre")
    if enc.causal:  # live use: nothing from later frames
        centre = ("per frame, the pelvis (joint 0) where it is reliable, else held from the last frame where it was; "
                  "before any such frame, the mean of the reliable joints, held likewise; before any, 0")
        scale = (f"per frame: the median, over the last {enc.causal_window} frames (this one included) with >= "
                 f"{enc.min_joints} reliable joints (if none has that many, with any), of the root-mean-square "
                 "distance of those joints from their frame's centre; if none, the last frame's scale, else 1")
    return {
        "format": CONTRACT_FORMAT,
        "version": CONTRACT_VERSION,
        "model": loaded.name,
        "git_commit": loaded.meta.get("git_commit", "unknown"),
        "fps": cfg.fps,
        "joints": list(JOINT_NAMES),
        "input": {
            "name": "x", "shape": ["batch", "frames", len(JOINT_NAMES), 3], "dtype": "float32",
            "keypoints": "image coordinates of one person (pixels or any unit; x right, y down), one row per "
                         "frame at `fps` frames per second; resample other rates first",
            "reliable": reliable,
            "centre": centre,
            "scale": scale,
            "channels": ["(x - centre_x) / scale", "(y - centre_y) / scale", third],
            "missing": "a joint with no position (NaN): 0, 0, 0",
        },
        "output": {
            "name": "poses", "shape": ["batch", "frames", len(JOINT_NAMES), 3], "dtype": "float32",
            "meaning": "3D joints in metres, the pelvis at the origin, in the camera's axes (x right, y down, "
                       "z away from the camera)" + ("; for this model, the axes of the camera turned onto the "
                                                     "pelvis's viewing ray: see `view`" if cfg.ray_frame else ""),
        },
        "encoding": {"mode": enc.mode, "threshold": enc.threshold, "sigma": enc.sigma,
                     "min_joints": enc.min_joints, "causal": enc.causal, "causal_window": enc.causal_window,
                     "flag_frames": enc.flag_frames, "confidence_frames": enc.confidence_frames},
        "causal": bool(cfg.tcn.causal),
        "flip_averaging": bool(cfg.flip_test),
        "grid_averaging": cfg.grid_averaged,
        # inside the graph too: each bone's length pulled this share toward its median over the frames fed (a causal
        # model's: over the last bone_pull_window of them, up to each frame)
        "bone_pull": cfg.bone_test if cfg.bones_pulled else 0.0,
        "bone_pull_window": enc.causal_window if cfg.tcn.causal else None,
        "networks_averaged": cfg.ensemble,  # inside the graph, like the flip and grid averaging
        "view": view_terms(cfg),
        "reference_implementation": ("occlupose.lifter.lift(model, keypoints, confidence, camera=(f, cx, cy)); "
                                     "the encoding alone: occlupose.encoding.encode(keypoints, confidence, "
                                     "InputEncoding(**encoding)), or occlupose.lifter.encode_in_view for the view "
                                     "step, and occlupose.lifter.turn_by_ray for the output's"),
    }


def view_terms(cfg) -> dict | None:
    """The ray-frame steps around the graph (:attr:`ModelConfig.ray_frame`); None for a model without them."""
    if not cfg.ray_frame:
        return None
    ray = ("with the camera's focal length f and principal point (cx, cy) in the keypoints' unit: u = (x - cx) / f, "
           "v = (y - cy) / f for every keypoint; c[t] = the centre of step 2 (below) of these (u, v); R[t] = the "
           "smallest rotation taking (0, 0, 1) onto (c_u, c_v, 1) / |(c_u, c_v, 1)| (about the axis (-c_v, c_u, 0))")
    return {
        "ray_frame": True,
        "ray_input": bool(cfg.ray_input),
        "camera": ray,
        "before": ("each keypoint's (u, v, 1) turned by R[t] transposed and divided by its third coordinate is the "
                   "keypoint the input's steps encode" if cfg.ray_input else "the input's steps encode the keypoints "
                   "as they are"),
        "after": "each output joint p (a column vector, metres) becomes R[t] p: the camera's axes",
        "without_a_camera": "skip both: the 3D is then as if the person were straight ahead of the camera",
    }
