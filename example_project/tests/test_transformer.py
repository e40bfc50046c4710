"""A small Transformer encoder, budgeted from pyproject.toml only.

The forward tests carry no marker and use no fixture: the glob entry
[tool.flopbudget.tests."tests/test_transformer.py::*"] budgets every test in this file. The
training step also matches it, but its exact node-id entry wins, and it counts an explicit block
with `flop_budget.counting(model)` (so the optimizer step is counted too).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from models import TinyTransformer, build_transformer

VOCAB, CLASSES = 1000, 10


@pytest.fixture
def model() -> TinyTransformer:
    return build_transformer(vocab_size=VOCAB, dim=128, heads=4, layers=2, max_len=64)


@pytest.mark.parametrize("seq_len", [16, 64])
def test_logits_shape(model: TinyTransformer, seq_len: int) -> None:
    model.eval()
    with torch.no_grad():
        logits = model(torch.randint(0, VOCAB, (1, seq_len)))
    assert logits.shape == (1, CLASSES)
    assert torch.isfinite(logits).all()


def test_batch_of_two_sequences(model: TinyTransformer) -> None:
    # Two 32-token sequences in one batch: 53.1 MFLOPs, under the same glob limit as one of 64.
    model.eval()
    tokens = torch.randint(0, VOCAB, (2, 32))
    with torch.no_grad():
        batched = model(tokens)
    assert batched.shape == (2, CLASSES)
    assert not torch.allclose(batched[0], batched[1])


def test_training_step(model: TinyTransformer, flop_budget) -> None:
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    tokens, labels = torch.randint(0, VOCAB, (8, 64)), torch.randint(0, CLASSES, (8,))

    with flop_budget.counting(model):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(tokens), labels)
        loss.backward()
        optimizer.step()

    assert loss.item() > 0
    assert model.head.weight.grad is not None
    # The exact node-id entry in pyproject.toml wins over the file's glob entry.
    assert flop_budget.budget.limits["flops"].value == 1_600_000_000
