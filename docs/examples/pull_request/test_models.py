import pytest
import torch
from models import Classifier


@pytest.mark.flop_budget  # the limits are in pyproject.toml
def test_classifier():
    model = Classifier().eval()
    assert model(torch.randn(32, 64)).shape == (32, 10)


@pytest.mark.flop_budget
def test_head_only():
    head = Classifier().eval().head
    assert head(torch.randn(32, 64)).shape == (32, 10)
