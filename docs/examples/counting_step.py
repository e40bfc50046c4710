import torch

import pytest_flopbudget as fb

model = torch.nn.Linear(256, 64)
x = torch.randn(32, 256)
with fb.counting(model) as counted:
    loss = model(x).sum()
    loss.backward()
print(counted.profile.forward_flops, counted.profile.backward_flops)  # 1052672 1050624
