import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread():
    """These graphs are tiny: one thread avoids OpenMP wake-up costs that dominate on a
    busy machine (100x slower per DGL kernel with 2 contended threads)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
