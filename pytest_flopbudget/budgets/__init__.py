"""Budgets: the table of quantities, value parsing, ``[tool.flopbudget]``, a test's budget and its
verdict, module budgets and the pyproject update. Never imports torch."""
