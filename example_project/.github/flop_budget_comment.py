"""Post or update the pull request's one FLOP budget comment (run by flop-budget-comment.yml).

    python .github/flop_budget_comment.py DIR

DIR is the `flop-budget` artifact of the pull request's run: `pr-number`, `flops.md` (the
Markdown report) and `flops.json` (the JSON report). Environment: GITHUB_TOKEN, GITHUB_REPOSITORY,
HEAD_SHA (the commit the run tested), GITHUB_API_URL (optional).

The comment is found by the hidden marker on its first line and edited in place on every push.
It is posted only when something failed, warned or changed; otherwise a comment posted earlier
is edited to say all is well, and none is posted. The artifact may come from a fork: its files
are read as data only, the pull request number must be a number, and that pull request's head
must be the commit the run tested (so a forged number, or a late run of an older push, posts
nothing). Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.request
from pathlib import Path
from typing import Any

MARKER = "<!-- pytest-flopbudget -->"
LIMIT = 65_536  # GitHub's longest comment body, in characters
QUIET_KINDS = {"ok"}  # a status kind that, with unchanged totals, has nothing to say


def noteworthy(report: dict[str, Any]) -> bool:
    """Whether a test failed, warned or changed: a status other than `ok` (failed, over, error,
    grew, warn, uncounted, new, ...), FLOPs or params unlike the baseline's, or a test gone."""
    if report.get("gone"):
        return True
    for test in report.get("tests", []):
        before = test.get("previous")
        if test.get("status", "").split(":")[0] not in QUIET_KINDS or before is None:
            return True
        totals = test.get("totals", {})
        if any(before.get(key) != totals.get(key) for key in ("flops", "params")):
            return True
    return False


def comment_body(markdown: str, sha: str) -> str:
    """The marker, the Markdown report (cut at a line to fit a comment) and the commit."""
    footer = f"\n\n<sub>Commit {sha}; this comment is updated on every push.</sub>\n"
    room = LIMIT - len(MARKER) - len(footer) - 200
    if len(markdown) > room:
        cut = markdown[:room].rsplit("\n", 1)[0]
        markdown = (
            cut + "\n\n… cut to fit a comment: the whole report is on the run's summary page."
        )
    return f"{MARKER}\n{markdown.rstrip()}{footer}"


def all_well_body(sha: str) -> str:
    return (
        f"{MARKER}\n### ✅ FLOP budget: all well\n\n"
        f"At commit {sha} no budgeted test failed, warned or changed against the merge-base.\n"
    )


class GitHub:
    """The few REST calls the comment needs."""

    def __init__(self, repo: str, token: str, url: str = "https://api.github.com") -> None:
        self.repo, self.token, self.url = repo, token, url.rstrip("/")

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"{self.url}/repos/{self.repo}/{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self.token}",
                "X-GitHub-Api-Version": "2022-11-28",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)


def find_comment(api: GitHub, pr: int) -> dict[str, Any] | None:
    """The first comment whose body starts with the marker (every page of comments)."""
    page = 1
    while True:
        comments = api.call("GET", f"issues/{pr}/comments?per_page=100&page={page}")
        for comment in comments:
            if (comment.get("body") or "").startswith(MARKER):
                return comment
        if len(comments) < 100:
            return None
        page += 1


def sync(api: GitHub, pr: int, sha: str, markdown: str, report: dict[str, Any]) -> str:
    """Post, update or leave the comment; returns what it did, in words."""
    head = api.call("GET", f"pulls/{pr}")["head"]["sha"]
    if head != sha:
        return f"skipped: pull request #{pr} is at {head}, not the tested {sha}"
    existing = find_comment(api, pr)
    if noteworthy(report):
        body = comment_body(markdown, sha)
    elif existing is not None:
        body = all_well_body(sha)
    else:
        return "nothing to say: no comment posted"
    if existing is None:
        api.call("POST", f"issues/{pr}/comments", {"body": body})
        return f"posted on #{pr}"
    if existing.get("body") == body:
        return f"unchanged on #{pr}"
    api.call("PATCH", f"issues/comments/{existing['id']}", {"body": body})
    return f"updated on #{pr}"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    folder = Path(argv[1])
    number = (folder / "pr-number").read_text(encoding="utf-8").strip()
    if not number.isdigit():
        print(f"flop budget comment: pr-number is not a number: {number[:40]!r}", file=sys.stderr)
        return 2
    if not all((folder / name).is_file() for name in ("flops.json", "flops.md")):
        print("flop budget comment: the run wrote no report (it failed first); nothing posted")
        return 0
    report = json.loads((folder / "flops.json").read_text(encoding="utf-8"))
    markdown = (folder / "flops.md").read_text(encoding="utf-8")
    env = os.environ
    api = GitHub(
        env["GITHUB_REPOSITORY"],
        env["GITHUB_TOKEN"],
        env.get("GITHUB_API_URL", "https://api.github.com"),
    )
    print("flop budget comment:", sync(api, int(number), env["HEAD_SHA"], markdown, report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
