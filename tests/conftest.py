import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))



@pytest.fixture(scope="session")
def mocap():
    """The open mocap file bundled in the package (never ../shared: a clone must test on its own)."""
    from occlupose.data import bundled_mocap, load_mocap

    return load_mocap(bundled_mocap())


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, mocap):
    """A small lifter trained for a few steps: enough to exercise loading, lifting and the CLI."""
    from occlupose.config import ModelConfig, TrainConfig
    from occlupose.models import TCNConfig
    from occlupose.train import train

    cfg = TrainConfig(name="tiny", steps=30, batch_size=8, window=32, log_every=10, checkpoint_every=30,
                      eval_views=1, data=mocap.path, model=ModelConfig(tcn=TCNConfig(channels=16)))
    return train(cfg, tmp_path_factory.mktemp("tiny_run"), progress=False)
