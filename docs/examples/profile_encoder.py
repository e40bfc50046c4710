import torch

import pytest_flopbudget as fb

model = torch.nn.TransformerEncoderLayer(256, 8, batch_first=True).eval()
result = fb.profile(model, torch.randn(1, 128, 256))
print(result.macs, result.flops, result.params)  # 176160768 353991680 1315072
print(result.table(depth=2))  # per-module tree, per-op table
