import torch

import pytest_flopbudget as fb

model = torch.nn.Linear(256, 64)
result = fb.profile(model, torch.randn(32, 256))
print(result.macs, result.flops, result.params)  # 524288 1050624 16448
