"""Ops with no cost formula, registered once in this process (tests/conftest.py imports this).

Custom ops are uncounted whatever formulas the built-in table gains. The pytester runs are
in-process and call torch.ops.fbtest.nocost. (A torch.library.custom_op would import
torch._dynamo on its first call, inside an inner run that then drops it, and torch cannot
import it twice.)"""

from __future__ import annotations

import torch

FBTEST = torch.library.Library("fbtest", "DEF")
FBTEST.define("nocost(Tensor x) -> Tensor")
FBTEST.impl("nocost", lambda x: x * 2, "CompositeExplicitAutograd")
FBTEST.define("nocost_too(Tensor x) -> Tensor")
FBTEST.impl("nocost_too", lambda x: x + 1, "CompositeExplicitAutograd")
NOCOST = "fbtest.nocost"  # its key in Profile.uncounted and the reports
NOCOST_OP = "fbtest::nocost"  # its name in messages: the name a formula is registered under

# mylib::opaque stands for a kernel with no formula inside a module that a module-cost hook
# prices as a unit (tests/extensions/test_conftest_and_entry_points.py).
MYLIB = torch.library.Library("mylib", "DEF")
MYLIB.define("opaque(Tensor x) -> Tensor")
MYLIB.impl("opaque", lambda x: x * 3, "CompositeExplicitAutograd")
