"""example_project's GitHub workflows and comment script: the pull-request recipe of the docs."""

from __future__ import annotations

import importlib.util
import json
import shlex
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

# --- the CI recipe -------------------------------------------------------------------------------

GITHUB = Path(__file__).parents[2] / "example_project" / ".github"
WORKFLOW = GITHUB / "workflows"
MARKER = "<!-- pytest-flopbudget -->"


def load(name: str) -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((WORKFLOW / name).read_text(encoding="utf-8"))


def triggers(workflow: dict) -> dict:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true


def commands(step: dict) -> list[list[str]]:
    """The pytest command lines of a `run:` step, as argument lists (continuations joined)."""
    script = step.get("run", "").replace("\\\n", " ")
    return [
        shlex.split(line.split("||")[0])
        for line in script.splitlines()
        if line.strip().startswith("pytest ")
    ]


def option(argv: list[str], name: str) -> list[str]:
    return [arg.split("=", 1)[1] for arg in argv if arg.startswith(f"{name}=")]


def uses(steps: list[dict], action: str) -> dict:
    (step,) = [s for s in steps if s.get("uses", "").startswith(f"{action}@")]
    return step


def test_the_pull_request_job_counts_the_merge_base_then_the_pull_request_against_it():
    workflow = load("flop-budget.yml")
    assert "pull_request" in triggers(workflow)
    assert workflow["permissions"] == {"contents": "read"}  # a fork's token can only read anyway
    (job,) = workflow["jobs"].values()
    steps = job["steps"]
    assert all(isinstance(step, dict) and ("run" in step or "uses" in step) for step in steps)

    # the pull request's head, not GitHub's merge commit (whose merge-base is the target's tip)
    checkout = uses(steps, "actions/checkout")
    assert checkout["with"] == {
        "ref": "${{ github.event.pull_request.head.sha }}",
        "fetch-depth": 0,
    }

    runs = [(step, argv) for step in steps for argv in commands(step)]
    (base_step, base), (pr_step, pr) = [(s, a) for s, a in runs if a[0] == "pytest"]
    assert base_step["env"] == {"BASE_REF": "${{ github.event.pull_request.base.ref }}"}
    lines = [line.strip() for line in base_step["run"].splitlines()]
    merge_base, worktree = (
        lines.index('base=$(git merge-base "origin/$BASE_REF" HEAD)'),
        lines.index('git worktree add "$RUNNER_TEMP/base" "$base"'),
    )
    assert merge_base < worktree < lines.index('cd "$RUNNER_TEMP/base"') < len(lines) - 1
    assert lines[-1].startswith("pytest ") and lines[-1].endswith("|| true")
    assert "--flop-budget-disable" in base
    (base_report,) = option(base, "--flop-report")
    assert base_report.startswith("json:")

    assert option(pr, "--flop-baseline") == [base_report.removeprefix("json:")]
    assert option(pr, "--flop-fail-on-increase") == ["5%"]
    assert option(pr, "--flop-warn-on-increase") == ["2%"]
    reports = dict(r.split(":", 1) for r in option(pr, "--flop-report") if "SUMMARY" not in r)
    assert "markdown:$GITHUB_STEP_SUMMARY" in option(pr, "--flop-report")  # the job summary
    assert set(reports) == {"json", "markdown", "html"}
    (number,) = [s for s in steps if "flop-budget/pr-number" in s.get("run", "")]
    assert number["env"] == {"PR_NUMBER": "${{ github.event.pull_request.number }}"}
    assert 'echo "$PR_NUMBER" > flop-budget/pr-number' in number["run"]
    assert steps.index(number) == steps.index(checkout) + 1  # so a failed install leaves it too

    upload = uses(steps, "actions/upload-artifact")
    assert upload.get("if") == "always()"  # also when the budget failed the job
    assert upload["with"]["name"] == "flop-budget"
    kept = upload["with"]["path"].split()
    assert sorted(kept) == sorted([*reports.values(), "flop-budget/pr-number"])
    assert len({str(Path(path).parent) for path in kept}) == 1  # the artifact's root: the files
    assert steps.index(base_step) < steps.index(pr_step) < steps.index(upload)


def test_the_comment_job_runs_on_the_completed_run_with_write_permission_and_no_pr_code():
    pr_workflow, workflow = load("flop-budget.yml"), load("flop-budget-comment.yml")
    on = triggers(workflow)
    assert list(on) == ["workflow_run"]
    assert on["workflow_run"] == {"workflows": [pr_workflow["name"]], "types": ["completed"]}
    assert workflow["permissions"] == {}
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"actions": "read", "contents": "read", "pull-requests": "write"}
    assert "github.event.workflow_run.event == 'pull_request'" in job["if"]
    assert "github.event.workflow_run.conclusion != 'cancelled'" in job["if"]
    steps = job["steps"]

    checkout = uses(steps, "actions/checkout")  # the default branch's script, never the PR's
    assert "ref" not in checkout["with"] and checkout["with"]["persist-credentials"] is False
    download = uses(steps, "actions/download-artifact")
    (upload,) = [
        s for s in pr_workflow["jobs"]["flop-budget"]["steps"] if "upload" in s.get("uses", "")
    ]
    assert download["with"]["name"] == upload["with"]["name"]
    assert download["with"]["run-id"] == "${{ github.event.workflow_run.id }}"
    folder = download["with"]["path"].replace("${{ runner.temp }}", "$RUNNER_TEMP")

    post = steps[-1]
    assert shlex.split(post["run"]) == ["python3", ".github/flop_budget_comment.py", folder]
    assert (GITHUB / "flop_budget_comment.py").is_file()
    assert post["env"]["HEAD_SHA"] == "${{ github.event.workflow_run.head_sha }}"
    assert post["env"]["GITHUB_TOKEN"] == "${{ github.token }}"
    assert steps.index(checkout) < steps.index(download) < steps.index(post)


@pytest.mark.parametrize("name", ["flop-budget.yml", "flop-budget-comment.yml"])
def test_the_workflows_pass_schemastores_workflow_schema(name):
    if importlib.util.find_spec("check_jsonschema") is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    schema = ["--builtin-schema", "vendor.github-workflows"]
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", *schema, str(WORKFLOW / name)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- the comment script, against a fake GitHub API -----------------------------------------------

spec = importlib.util.spec_from_file_location(
    "flop_budget_comment", GITHUB / "flop_budget_comment.py"
)
comment = importlib.util.module_from_spec(spec)
spec.loader.exec_module(comment)

SHA = "a" * 40


class FakeGitHub(ThreadingHTTPServer):
    """The REST calls the script makes, for one repository (`o/r`) and pull request #7."""

    def __init__(self, comments: list[dict], head: str = SHA) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.comments, self.head, self.calls = comments, head, []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        pass

    def _answer(self) -> None:
        fake: FakeGitHub = self.server
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        fake.calls.append((self.command, url.path, body))
        assert self.headers["Authorization"] == "Bearer t0ken"
        if (self.command, url.path) == ("GET", "/repos/o/r/pulls/7"):
            answer = {"head": {"sha": fake.head}}
        elif (self.command, url.path) == ("GET", "/repos/o/r/issues/7/comments"):
            query = dict(part.split("=") for part in url.query.split("&"))
            page, size = int(query["page"]), int(query["per_page"])
            answer = fake.comments[(page - 1) * size : page * size]
        elif (self.command, url.path) == ("POST", "/repos/o/r/issues/7/comments"):
            answer = {"id": 999, "body": body["body"]}
            fake.comments.append(answer)
        elif self.command == "PATCH" and url.path.startswith("/repos/o/r/issues/comments/"):
            (answer,) = [c for c in fake.comments if url.path.endswith(f"/{c['id']}")]
            answer["body"] = body["body"]
        else:
            self.send_error(404)
            return
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = _answer


def report(*tests: dict, gone: tuple[str, ...] = ()) -> dict:
    return {"schema": "pytest-flopbudget/report", "tests": list(tests), "gone": list(gone)}


def entry(status="ok", flops=100, params=10, before=(100, 10)) -> dict:
    previous = None if before is None else {"flops": before[0], "params": before[1]}
    return {
        "nodeid": "t.py::x",
        "status": status,
        "totals": {"flops": flops, "params": params},
        "previous": previous,
    }


QUIET = report(entry(), entry())
LOUD = report(entry(), entry(status="grew:flops", flops=120))


def run(
    tmp_path,
    monkeypatch,
    fake: FakeGitHub,
    data: dict,
    markdown="### ❌ FLOP budget: 1 grew\n",
    number="7",
) -> int:
    folder = tmp_path / "flop-budget"
    folder.mkdir(exist_ok=True)
    (folder / "pr-number").write_text(number + "\n", encoding="utf-8")
    (folder / "flops.json").write_text(json.dumps(data), encoding="utf-8")
    (folder / "flops.md").write_text(markdown, encoding="utf-8")
    for name, value in {
        "GITHUB_TOKEN": "t0ken",
        "GITHUB_REPOSITORY": "o/r",
        "HEAD_SHA": SHA,
        "GITHUB_API_URL": fake.url,
    }.items():
        monkeypatch.setenv(name, value)
    thread = threading.Thread(target=fake.serve_forever, daemon=True)
    thread.start()
    try:
        return comment.main(["flop_budget_comment.py", str(folder)])
    finally:
        fake.shutdown()
        fake.server_close()


def others(count: int) -> list[dict]:
    """Comments of people, one of them quoting the marker (not the bot's comment)."""
    return [
        {"id": i, "body": f"> {MARKER}\nquoted" if i == 3 else f"comment {i}"} for i in range(count)
    ]


def writes(fake: FakeGitHub) -> list[tuple]:
    return [call for call in fake.calls if call[0] != "GET"]


def test_the_script_uses_the_workflows_marker():
    assert comment.MARKER == MARKER


def test_a_change_is_posted_once_with_the_marker_first(tmp_path, monkeypatch):
    fake = FakeGitHub(others(5))
    assert run(tmp_path, monkeypatch, fake, LOUD) == 0
    ((method, path, body),) = writes(fake)
    assert (method, path) == ("POST", "/repos/o/r/issues/7/comments")
    assert body["body"].startswith(MARKER + "\n### ❌ FLOP budget: 1 grew\n")
    assert SHA in body["body"]


def test_the_next_push_edits_that_comment_found_past_the_first_page(tmp_path, monkeypatch):
    mine = {"id": 4242, "body": f"{MARKER}\nan earlier push"}
    fake = FakeGitHub([*others(150), mine])  # a second page of comments
    assert run(tmp_path, monkeypatch, fake, LOUD, markdown="### ⚠️ warned\n") == 0
    ((method, path, body),) = writes(fake)
    assert (method, path) == ("PATCH", "/repos/o/r/issues/comments/4242")
    assert body["body"].startswith(MARKER + "\n### ⚠️ warned")
    pages = [p for m, p, _ in fake.calls if p.endswith("/comments") and m == "GET"]
    assert len(pages) == 2


def test_all_well_edits_an_earlier_comment_and_posts_none(tmp_path, monkeypatch):
    mine = {"id": 4242, "body": f"{MARKER}\nan earlier push grew"}
    fake = FakeGitHub([*others(2), mine])
    assert run(tmp_path, monkeypatch, fake, QUIET) == 0
    ((method, path, body),) = writes(fake)
    assert (method, path) == ("PATCH", "/repos/o/r/issues/comments/4242")
    assert body["body"].startswith(f"{MARKER}\n### ✅ FLOP budget: all well")
    assert SHA in body["body"]

    quiet = FakeGitHub(others(2))
    assert run(tmp_path, monkeypatch, quiet, QUIET) == 0
    assert writes(quiet) == []


def test_a_late_run_of_an_older_push_or_a_forged_number_posts_nothing(
    tmp_path, monkeypatch, capsys
):
    fake = FakeGitHub([], head="b" * 40)
    assert run(tmp_path, monkeypatch, fake, LOUD) == 0
    assert writes(fake) == [] and "skipped" in capsys.readouterr().out

    fake = FakeGitHub([])
    assert run(tmp_path, monkeypatch, fake, LOUD, number="7; rm -rf /") == 2
    assert fake.calls == []


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (QUIET, False),
        (report(entry(status="warn:flops", flops=103)), True),
        (report(entry(status="over:flops")), True),  # over budget, unchanged: still failing
        (report(entry(params=11)), True),  # changed within every limit
        (report(entry(status="new", before=None)), True),
        (report(entry(), gone=("t.py::old",)), True),
        (report(), False),
    ],
)
def test_what_is_worth_a_comment(data, said):
    assert comment.noteworthy(data) is said


def test_a_long_report_is_cut_at_a_line_to_fit_a_comment():
    markdown = "".join(f"| row {i} | {'x' * 90} |\n" for i in range(2000))  # ≈ 200 KB
    body = comment.comment_body(markdown, SHA)
    assert len(body) <= 65_536
    assert body.startswith(MARKER + "\n| row 0 |")
    kept = body.split("\n… cut to fit a comment")[0]
    assert all(line.endswith("|") for line in kept.splitlines()[1:] if line)
    assert SHA in body.splitlines()[-1]


def test_a_run_that_failed_before_its_reports_posts_nothing(tmp_path, monkeypatch, capsys):
    fake = FakeGitHub([])
    folder = tmp_path / "flop-budget"
    folder.mkdir()
    (folder / "pr-number").write_text("7\n", encoding="utf-8")  # all a failed install leaves
    assert comment.main(["flop_budget_comment.py", str(folder)]) == 0
    assert "nothing posted" in capsys.readouterr().out
    fake.server_close()
