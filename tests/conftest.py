"""Every test runs with one torch thread and starts from the same random state (repeatable even if it draws
unseeded data)."""

import random

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tests run in parallel workers on a small machine: oversubscribed OpenMP threads spin and crawl."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(autouse=True)
def _seed_everything():
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
