import pytest
import torch

from occlupose.lifter import PoseLifter
from occlupose.models import (
    TCN,
    Discriminator,
    Lifter3D,
    TCNConfig,
    count_parameters,
    gaussian_kernels,
    normalized_average,
)


@pytest.mark.parametrize("t", [1, 3, 7, 128, 130])
def test_tcn_any_length(t):
    net = TCN(3, 2, TCNConfig(channels=16)).eval()
    out = net(torch.randn(2, t, 17, 3))
    assert out.shape == (2, t, 17, 2)


def test_lifter3d_is_root_relative():
    out = Lifter3D(TCNConfig(channels=16)).eval()(torch.randn(3, 16, 17, 3))
    assert out.shape == (3, 16, 17, 3)
    assert torch.allclose(out[:, :, 0], torch.zeros(3, 16, 3))


def test_confidence_products_feed_the_stem_position_times_confidence():
    torch.manual_seed(0)
    cfg = TCNConfig(channels=16, dropout=0.0, confidence_products=True)
    net = Lifter3D(cfg).eval()
    assert net.stem[0].in_channels == 17 * 5
    plain = TCN(5, 3, cfg).eval()
    plain.load_state_dict(net.state_dict())
    x = torch.randn(2, 20, 17, 3)
    # by hand: channels (x, y, c, x*c, y*c), then root-relative
    by_hand = plain(torch.cat([x, x[..., :1] * x[..., 2:], x[..., 1:2] * x[..., 2:]], dim=-1))
    assert torch.allclose(net(x), by_hand - by_hand[:, :, :1], atol=1e-6)
    # off (every checkpoint before it): the stem as it was
    assert Lifter3D(TCNConfig(channels=16)).stem[0].in_channels == 17 * 3


def test_normalized_average_by_hand():
    # sigma 1: 7 taps exp(-t^2 / 2), t = -3..3, normalised; three frames x = 0, 5, 2 with weights 1, 0, 1
    w = torch.exp(-0.5 * torch.arange(-3.0, 4.0) ** 2)
    w = w / w.sum()
    x = torch.zeros(1, 3, 1, 3)
    x[0, :, 0, 0] = torch.tensor([0.0, 5.0, 2.0])
    x[0, :, 0, 1] = torch.tensor([1.0, -7.0, 1.0])
    x[0, :, 0, 2] = torch.tensor([1.0, 0.0, 1.0])
    out = normalized_average(x, gaussian_kernels((1.0,)))[0, :, 0]
    # the middle frame: its own guess weighs 0, its neighbours 1 each, one tap away
    assert torch.allclose(out[1], torch.tensor([1.0, 1.0, 2 * w[4]]), atol=1e-6)
    # the first frame: itself (tap 0) and the third frame (tap 2); nothing before the sequence
    den = w[3] + w[5]
    assert torch.allclose(out[0], torch.tensor([2 * w[5] / den, 1.0, den]), atol=1e-6)


def test_normalized_average_fills_a_gap_in_a_straight_line():
    # a joint moving at constant speed, unseen for 21 frames (its guess far off, weight 0): the weighted mean
    # of a symmetric neighbourhood lands on the line; where it is seen throughout, on the joint itself
    t = torch.arange(200.0)
    x = torch.stack([0.3 + 0.01 * t, -0.2 + 0.004 * t, torch.ones_like(t)], -1)[None, :, None].repeat(1, 1, 17, 1)
    x[0, 90:111, 3, :2] = 9.0
    x[0, 90:111, 3, 2] = 0.0
    out = normalized_average(x, gaussian_kernels((4.0, 16.0)))  # (1, T, 17, 6)
    line = torch.stack([0.3 + 0.01 * t, -0.2 + 0.004 * t], -1)
    for s in range(2):
        assert torch.allclose(out[0, 100, 3, 3 * s : 3 * s + 2], line[100], atol=1e-5)
        assert torch.allclose(out[0, 60:140, 0, 3 * s : 3 * s + 2], line[60:140], atol=1e-5)
    # the weight says how much was seen: all of it away from the gap; at the gap's centre only the Gaussian's
    # tails beyond 10.5 frames, 2 (1 - Phi(10.5 / sigma)): 0.9 % for sigma 4, 51 % for sigma 16
    assert torch.allclose(out[0, 60:80, 0, 2], torch.ones(20), atol=1e-5)
    assert 0.008 < out[0, 100, 3, 2] < 0.010
    assert 0.49 < out[0, 100, 3, 5] < 0.53


def test_normalized_sigmas_widen_the_stem_and_are_checked():
    torch.manual_seed(0)
    cfg = TCNConfig(channels=16, dropout=0.0, confidence_products=True, normalized_sigmas=(2, 8))
    net = Lifter3D(cfg).eval()
    assert net.stem[0].in_channels == 17 * (5 + 6)
    plain = TCN(11, 3, cfg).eval()
    plain.load_state_dict(net.state_dict())  # the kernels are fixed, not weights: checkpoints hold none
    x = torch.randn(2, 24, 17, 3)
    parts = [x, x[..., :2] * x[..., 2:], normalized_average(x, gaussian_kernels((2.0, 8.0)))]
    by_hand = plain(torch.cat(parts, dim=-1))
    assert torch.allclose(net(x), by_hand - by_hand[:, :, :1], atol=1e-6)
    with pytest.raises(ValueError, match="normalized_sigmas"):
        TCNConfig(normalized_sigmas=(0.0,))
    with pytest.raises(ValueError, match="causal"):
        TCNConfig(normalized_sigmas=(4.0,), causal=True)


def test_receptive_field_is_about_the_window():
    torch.manual_seed(0)
    net = TCN(3, 3, TCNConfig(channels=16, dropout=0.0)).eval()
    x = torch.randn(1, 256, 17, 3, requires_grad=True)
    net(x)[0, 128].sum().backward()
    reach = torch.nonzero(x.grad.abs().sum((0, 2, 3)) > 0).squeeze(1)
    span = reach.max().item() - reach.min().item() + 1
    assert 100 <= span <= 160


def test_missing_joints_stay_missing_through_the_2d_tcn():
    net = PoseLifter().eval()
    x = torch.randn(1, 32, 17, 3)
    x[..., 2] = 1.0
    x[0, :, 5] = 0.0  # joint 5 missing: zero and flag 0
    smooth, poses = net(x)
    assert smooth.shape == (1, 32, 17, 2) and poses.shape == (1, 32, 17, 3)


def test_discriminator_scores_sequences():
    d = Discriminator(32)
    assert d(torch.randn(5, 128, 17, 3)).shape == (5,)
    assert count_parameters(d) > 0


@pytest.mark.parametrize("t", [1, 5, 37, 130])
def test_a_causal_tcn_never_sees_the_future(t):
    """Changing frames from k on changes no output before k; the offline TCN's outputs before k do change."""
    torch.manual_seed(0)
    causal = TCN(3, 3, TCNConfig(channels=16, causal=True)).eval()
    offline = TCN(3, 3, TCNConfig(channels=16)).eval()
    x = torch.randn(2, t, 17, 3)
    k = max(1, t // 2)
    y = x.clone()
    y[:, k:] = torch.randn_like(y[:, k:])
    with torch.no_grad():
        assert causal(x).shape == (2, t, 17, 3)
        assert torch.equal(causal(x)[:, :k], causal(y)[:, :k])
        if t > 1:
            assert not torch.allclose(causal(x)[:, k:], causal(y)[:, k:])
        if t > 4:
            assert not torch.allclose(offline(x)[:, :k], offline(y)[:, :k])


def test_causal_receptive_field_lies_in_the_past():
    torch.manual_seed(0)
    net = TCN(3, 3, TCNConfig(channels=16, dropout=0.0, causal=True)).eval()
    x = torch.randn(1, 256, 17, 3, requires_grad=True)
    net(x)[0, 200].sum().backward()
    reach = torch.nonzero(x.grad.abs().sum((0, 2, 3)) > 0).squeeze(1)
    assert reach.max().item() == 200 and 60 <= 200 - reach.min().item() <= 160
