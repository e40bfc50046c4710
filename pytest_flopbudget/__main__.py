"""`python -m pytest_flopbudget`: the `flopbudget` command."""

from pytest_flopbudget.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
