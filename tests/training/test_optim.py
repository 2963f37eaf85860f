"""The optimizers a trial can name."""

import pytest
import torch

from lrlab.training.optim import make_optimizer


def test_each_optimizer():
    p = [torch.nn.Parameter(torch.zeros(2))]
    m = make_optimizer("momentum", p, lr=0.1, weight_decay=1e-4)
    assert isinstance(m, torch.optim.SGD) and m.defaults["momentum"] == 0.9 and m.defaults["weight_decay"] == 1e-4
    assert make_optimizer("sgd", p, lr=0.1).defaults["momentum"] == 0
    assert isinstance(make_optimizer("adamw", p, lr=0.1), torch.optim.AdamW)
    with pytest.raises(ValueError, match="optimizer must be one of momentum, sgd, adamw, got 'adam'"):
        make_optimizer("adam", p, lr=0.1)
