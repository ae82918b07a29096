"""The causal lifter fed frame by frame gives, at the model's frames, exactly the whole-sequence result."""

from dataclasses import replace

import numpy as np
import pytest
import torch

from occlupose.lifter import PoseLifter, lift, load_checkpoint
from occlupose.stream import CausalStream, receptive_field


@pytest.fixture(scope="module")
def causal():
    return load_checkpoint("causal").model


def sequence(t: int = 240, seed: int = 0):
    """(T, 17, 2) px wandering keypoints and (T, 17) C*, with a gap (no person), frames with nothing reliable
    and a placeholder frame (every joint at one point)."""
    rng = np.random.default_rng(seed)
    kp = rng.uniform(150, 350, (17, 2)) + np.cumsum(rng.normal(0, 1.5, (t, 17, 2)), 0)
    conf = rng.uniform(0.05, 1.0, (t, 17))
    kp[40:47], conf[40:47] = np.nan, 0.0
    conf[90:93] = 0.1
    kp[min(120, t - 1)] = 200.0
    return kp, conf


@pytest.mark.parametrize("fps, confidence_frames, bones",
                         [(50.0, 1, 0.0), (30.0, 1, 0.0), (24.0, 1, 0.5), (30.0, 5, 0.5), (7.0, 1, 0.5)])
def test_stream_equals_lifting_the_whole_sequence(causal, fps, confidence_frames, bones, monkeypatch):
    """Also with the bone pull over the last 128 model frames (240 input frames are 400-1700 of them), and at
    7 fps, where each input frame makes 7-8 model frames (each must be lifted for the pull's window)."""
    from dataclasses import replace

    enc = replace(causal.cfg.encoding, confidence_frames=confidence_frames)  # C* averaged over the frames before
    monkeypatch.setattr(causal, "cfg", replace(causal.cfg, encoding=enc, bone_test=bones))
    kp, conf = sequence()
    times = np.arange(len(kp)) / fps
    whole = lift(causal, kp, conf, times=times)
    stream = CausalStream(causal, receptive_field(causal))
    live = np.stack([stream.push(t, kp[i], conf[i]) for i, t in enumerate(times)])
    on_grid = np.isclose(times * causal.cfg.fps, np.round(times * causal.cfg.fps))
    assert on_grid.sum() >= len(kp) // 12  # 24 fps meets the 50 fps grid every 12th frame, 7 fps every 7th
    # where the frame is a model frame, the very same numbers (up to float32 rounding)
    np.testing.assert_allclose(live[on_grid], whole[on_grid], atol=1e-5)
    # the whole-sequence pose changes with the frames after it: the stream's never does (it saw none)
    later = lift(causal, kp[:100], conf[:100], times=times[:100])
    np.testing.assert_allclose(later[on_grid[:100]], whole[:100][on_grid[:100]], atol=1e-5)


def test_a_sliding_window_would_not_be_the_same(causal):
    """Why the stream keeps the sequence's 4-frame grid: the same frames in a window started off the grid give
    a different newest pose (the strided layers see the frame at another phase)."""
    kp, conf = sequence()
    whole = lift(causal, kp[:201], conf[:201], fps=50.0)
    shifted = lift(causal, kp[201 - 150:201], conf[201 - 150:201], fps=50.0)  # starts at frame 51: off the grid
    assert np.abs(shifted[-1] - whole[-1]).max() > 1e-3


def test_threshold_override_and_bad_input(causal):
    kp, conf = sequence(60)
    times = np.arange(60) / 50.0
    stream = CausalStream(causal, receptive_field(causal), threshold=0.6)
    live = np.stack([stream.push(t, kp[i], conf[i]) for i, t in enumerate(times)])
    np.testing.assert_allclose(live, lift(causal, kp, conf, times=times, threshold=0.6), atol=1e-5)
    with pytest.raises(ValueError, match="increase"):
        stream.push(times[-1], kp[0], conf[0])
    offline = PoseLifter()
    with pytest.raises(ValueError, match="causal"):
        CausalStream(offline, 10)


@pytest.mark.parametrize("ray_input, camera", [(True, (500.0, 60.0, 400.0)), (False, (350.0, 500.0, 90.0)),
                                               (True, None)])
def test_stream_along_the_viewing_ray_equals_the_whole_sequence(causal, ray_input, camera, monkeypatch):
    """A lifter along the viewing ray (the causal weights relabelled: any weights must give the same numbers
    both ways): each frame's 2D seen along the ray through its causal centre, the 3D turned back by it. The
    person is far off the principal point, so a turn left out or taken from another frame shows."""
    monkeypatch.setattr(causal, "cfg", replace(causal.cfg, ray_frame=True, ray_input=ray_input, bone_test=0.5))
    kp, conf = sequence()
    times = np.arange(len(kp)) / 30.0
    whole = lift(causal, kp, conf, times=times, camera=camera)
    stream = CausalStream(causal, receptive_field(causal), camera=camera)
    live = np.stack([stream.push(t, kp[i], conf[i]) for i, t in enumerate(times)])
    on_grid = np.isclose(times * causal.cfg.fps, np.round(times * causal.cfg.fps))
    np.testing.assert_allclose(live[on_grid], whole[on_grid], atol=1e-5)
    straight = lift(causal, kp, conf, times=times)  # as if the person stood straight ahead
    assert (np.abs(straight - whole).max() > 0.01) == (camera is not None)


def test_receptive_field_is_what_the_output_depends_on(causal):
    rf = receptive_field(causal)
    x = torch.randn(1, 3 * rf, 17, 3)
    y = x.clone()
    y[:, 0] += 5.0
    with torch.no_grad():
        a, b = causal(x)[1], causal(y)[1]
    assert (a[0, rf - 1] != b[0, rf - 1]).any()  # still sees frame 0
    assert torch.equal(a[0, rf:], b[0, rf:])  # no longer does
