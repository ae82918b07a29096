"""The One Euro filter against hand-computed steps, and the properties the front end relies on."""

import numpy as np
import pytest

from occlupose.smoothing import OneEuro, OneEuroConfig, smooth


def test_first_steps_match_the_formula():
    cfg = OneEuroConfig(min_cutoff=1.0, beta=0.5, d_cutoff=2.0)
    f = OneEuro(cfg)
    dt = 0.1
    assert f(np.array(0.0), 0.0) == 0.0  # the first value passes unchanged
    # step 2: speed 10 / s -> filtered speed a_d * 10, cutoff 1 + 0.5 * that, value a * 1
    a_d = 1 / (1 + 1 / (2 * np.pi * 2.0) / dt)
    cutoff = 1.0 + 0.5 * a_d * 10
    a = 1 / (1 + 1 / (2 * np.pi * cutoff) / dt)
    np.testing.assert_allclose(f(np.array(1.0), dt), a)
    # a repeated timestamp changes nothing
    np.testing.assert_allclose(f(np.array(5.0), dt), a)


def test_still_noise_is_damped_and_motion_kept():
    rng = np.random.default_rng(0)
    t = np.arange(300) / 30
    still = rng.normal(0, 0.1, (300, 4, 2))  # 0.1 % of the person's size: a landmark model's tremor
    out = smooth(still, t, scale=100.0)
    assert out[30:].std() < 0.35 * still[30:].std()
    # a fast ramp (a person size per second) is followed with little lag by the causal filter
    ramp = (t * 100.0)[:, None]
    lag = np.abs(smooth(ramp, t, scale=100.0, mode="one_euro") - ramp)[60:].max()
    assert lag < 5.0  # 5 % of the person's size
    # and with none by the forward-backward one (its two lags cancel on a straight line)
    np.testing.assert_allclose(smooth(ramp, t, scale=100.0, mode="one_euro_fb")[30:-30], ramp[30:-30], atol=0.01)


def test_scale_invariance_and_identity():
    rng = np.random.default_rng(1)
    t = np.cumsum(rng.uniform(0.02, 0.05, 50))
    x = np.cumsum(rng.normal(0, 1, (50, 3, 2)), 0)
    np.testing.assert_allclose(smooth(10 * x, t, scale=10 * 50.0), 10 * smooth(x, t, scale=50.0), rtol=1e-9)
    np.testing.assert_allclose(smooth(x, t, mode="none"), x)
    const = np.ones((20, 2))
    np.testing.assert_allclose(smooth(const, np.arange(20) / 30, mode="one_euro_fb"), const)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="unknown smoothing"):
        smooth(np.zeros((3, 2)), np.arange(3), mode="kalman")
    with pytest.raises(ValueError, match="3 values but 2 times"):
        smooth(np.zeros((3, 2)), np.arange(2))
    with pytest.raises(ValueError, match="min_cutoff"):
        OneEuroConfig(min_cutoff=0)
