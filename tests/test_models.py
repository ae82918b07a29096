import pytest
import torch

from occlupose.lifter import PoseLifter
from occlupose.models import TCN, Discriminator, Lifter3D, TCNConfig, count_parameters


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
