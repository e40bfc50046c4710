"""Reporting: the terminal summary and breakdown, the JSON and Markdown reports (one table of
formats), reading reports back as baselines, deltas, and the last-run cache. Never imports
torch."""
