"""The `wit` command as a user runs it: a real process, real files, real exit codes."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow


def wit(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "witengine", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "WIT_CACHE_DIR": str(tmp_path / "cache")}


def script(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def test_check_exits_0_for_a_clean_script(tmp_path: Path) -> None:
    path = script(tmp_path, "ok.wit", 'Job:A() { Trace("hi"); }')
    done = wit("check", str(path), cwd=tmp_path)
    assert done.returncode == 0
    assert "ok.wit: ok" in done.stderr


def test_check_exits_2_and_prints_every_error_with_a_caret(tmp_path: Path) -> None:
    path = script(
        tmp_path,
        "bad.wit",
        """
        Job:A(Long:n)
        {
            Bool:p = Compute.IsPrme(n);
            Int:x = y;
        }
        """,
    )
    done = wit("check", str(path), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == (
        f"{path}:3:14: unknown activity 'Compute.IsPrme'\n"
        "        Bool:p = Compute.IsPrme(n);\n"
        "                 ^~~~~~~~~~~~~~\n"
        "    did you mean 'Compute.IsPrime'?\n"
        f"{path}:4:13: unknown variable 'y'\n"
        "        Int:x = y;\n"
        "                ^\n"
    )
    assert "2 errors" in done.stderr


def test_check_reports_syntax_errors_without_loading_the_cli_or_plugins(tmp_path: Path) -> None:
    bad = script(tmp_path, "bad.wit", 'Job:A()\n{\n    Trace(Format("x", 1);\n}\n')
    worse = script(tmp_path, "worse.wit", "Job:B() { Int:x = ; }")
    probe = (
        "import sys\n"
        "from witengine.cli.entry import main\n"
        "try:\n    main()\nexcept SystemExit as done:\n    code = done.code\n"
        "loaded = sorted(m for m in ('typer', 'rich', 'witengine.plugins.registry') "
        "if m in sys.modules)\n"
        "print('exit', code, 'loaded', loaded, file=sys.stderr)\n"
    )
    fast = subprocess.run(
        [sys.executable, "-c", probe, "check", str(bad), str(worse)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert fast.stderr.splitlines()[-1] == "exit 2 loaded []"
    # The same report, word for word, as the full command gives (with a clean file it runs).
    full = subprocess.run(
        [sys.executable, "-c", "from witengine.cli.app import main; main()", "check",
         str(bad), str(worse)],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert full.returncode == 2
    assert fast.stdout == full.stdout and "bad.wit:3:" in fast.stdout
    assert fast.stderr.splitlines()[:-1] == full.stderr.splitlines()
    # A file that parses needs the registry: the full command checks it.
    ok = script(tmp_path, "ok.wit", 'Job:A() { Trace("hi"); }')
    mixed = wit("check", str(bad), str(ok), cwd=tmp_path)
    assert mixed.returncode == 2 and "ok.wit: ok" in mixed.stderr


def test_check_names_a_missing_file(tmp_path: Path) -> None:
    done = wit("check", "nowhere.wit", cwd=tmp_path)
    assert done.returncode == 2
    assert "nowhere.wit: no such file" in done.stdout


def test_fmt_check_reports_a_file_that_is_not_canonical_and_fmt_rewrites_it(tmp_path: Path) -> None:
    path = script(tmp_path, "messy.wit", "Job:A(){~ keep me ~ Int:x=1+2*3;Trace( x );}\n")
    checked = wit("fmt", "--check", str(path), cwd=tmp_path)
    assert checked.returncode == 1
    assert "would be reformatted" in checked.stderr
    assert wit("fmt", str(path), cwd=tmp_path).returncode == 0
    assert path.read_text() == (
        "Job:A()\n{\n    ~ keep me ~\n    Int:x = 1 + 2 * 3;\n    Trace(x);\n}\n"
    )
    assert wit("fmt", "--check", str(path), cwd=tmp_path).returncode == 0


def test_run_json_counts_primes_with_the_process_pool(tmp_path: Path, env: dict[str, str]) -> None:
    root = Path(__file__).parents[2]
    done = wit(
        "run",
        str(root / "examples/primes.wit"),
        "n=2000",
        "--json",
        "--out",
        str(tmp_path / "out"),
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "completed"
    assert result["error"] is None
    assert result["variables"]["count"] == 303
    assert json.loads((tmp_path / "out/results.json").read_text()) == result


def test_run_json_reports_a_failing_activity_with_its_line(
    tmp_path: Path, env: dict[str, str]
) -> None:
    path = script(
        tmp_path,
        "fail.wit",
        """
        Job:Failing()
        {
            Int:before = 1;
            StringCollection:r = Grid.ForEach(m in ["fine", "boom"]) => Compute.Hash(m);
            Compute.Fail("the sky fell");
            Int:after = 2;
        }
        """,
    )
    done = wit("run", str(path), "--json", cwd=tmp_path, env=env)
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["status"] == "failed"
    assert result["error"] == (
        f'{path}:5: Compute.Fail: ComputeFailure: the sky fell (in: Compute.Fail("the sky fell");)'
    )
    assert result["variables"]["before"] == 1
    assert len(result["variables"]["r"]) == 2
    assert "after" not in result["variables"]


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("n=ten", "parameter 'n' (Long): 'ten' is not a whole number"),
        ("m=3", "unknown parameter 'm'; Sum takes Long:n, IntCollection:ids"),
        ("ids=1,x", "parameter 'ids' (IntCollection): 'x' is not a whole number"),
        ("n", "'n' is not name=value"),
    ],
)
def test_run_rejects_a_bad_parameter_before_starting(
    tmp_path: Path, env: dict[str, str], argument: str, message: str
) -> None:
    path = script(tmp_path, "sum.wit", "Job:Sum(Long:n = 1, IntCollection:ids = [1]) { }")
    done = wit("run", str(path), argument, "--json", cwd=tmp_path, env=env)
    assert done.returncode == 2
    assert json.loads(done.stdout) == {"status": "failed", "error": message, "variables": {}}


def test_run_reports_a_missing_parameter(tmp_path: Path, env: dict[str, str]) -> None:
    path = script(tmp_path, "need.wit", "Job:Need(Long:n, String:name) { }")
    done = wit("run", str(path), "--json", cwd=tmp_path, env=env)
    assert done.returncode == 2
    assert json.loads(done.stdout)["error"] == "missing parameters: n=<Long>, name=<String>"


@pytest.mark.parametrize("ids", ["1,2,3", "[1, 2, 3]"])
def test_collection_parameters_read_as_comma_lists_or_json(
    tmp_path: Path, env: dict[str, str], ids: str
) -> None:
    path = script(
        tmp_path,
        "total.wit",
        """
        Job:Total(IntCollection:ids, Bool:double = false, String:label = "sum")
        {
            Int:total = 0;
            ForEach(i in ids) { total = total + i; }
            If(double) { total = total * 2; }
            String:text = Format("{0}={1}", label, total);
        }
        """,
    )
    done = wit(
        "run", str(path), f"ids={ids}", "double=true", "label=all", "--json", cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["variables"] == {"total": 12, "text": "all=12"}


def test_files_go_in_as_paths_and_come_out_in_the_output_folder(
    tmp_path: Path, env: dict[str, str]
) -> None:
    source = tmp_path / "notes.txt"
    source.write_text("first line\n")
    path = script(
        tmp_path,
        "files.wit",
        """
        Job:Files(Blob:input)
        {
            String:text = Grid.Delegate => Compute.ReadText(input);
            Blob:copy = Compute.WriteText(text + "second line\\n", "copy.txt");
            BlobCollection:parts = Grid.ForEach(n in ["a.txt", "b.txt"]) => Compute.WriteText(n, n);
        }
        """,
    )
    out = tmp_path / "out"
    done = wit(
        "run", str(path), f"input={source}", "--json", "--out", str(out), cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr
    variables = json.loads(done.stdout)["variables"]
    assert variables["text"] == "first line\n"
    assert Path(variables["copy"]["path"]).read_text() == "first line\nsecond line\n"
    assert Path(variables["copy"]["path"]) == out / "copy.txt"
    assert [Path(p["path"]).read_text() for p in variables["parts"]] == ["a.txt", "b.txt"]
    assert (
        variables["copy"]["blob"]
        == __import__("hashlib").sha256(b"first line\nsecond line\n").hexdigest()
    )


def test_run_on_its_own_farm_names_the_farm_s_dashboard_and_a_token_that_opens_it(
    tmp_path: Path, env: dict[str, str]
) -> None:
    path = script(
        tmp_path,
        "peek.wit",
        """
        Job:Peek(String:log)
        {
            IntCollection:ran = Grid.ForEach(i in Int.Range(0, 30)) => Testing.Record(i, log, 300);
        }
        """,
    )
    ledger = tmp_path / "ran.txt"
    process = subprocess.Popen(
        [sys.executable, "-m", "witengine", "run", str(path), f"log={ledger}", "--nodes=1"],
        cwd=tmp_path,
        env={**env, "WIT_PLUGINS": "witengine.testing.plugins:plugin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = ""
        deadline = time.monotonic() + 60
        while not line.startswith("dashboard: ") and time.monotonic() < deadline:
            line = process.stderr.readline()
        found = re.match(r"dashboard: (http://127\.0\.0\.1:\d+)/\?token=(\S+)$", line.strip())
        assert found, line
        url, token = found.groups()
        while not (ledger.exists() and ledger.read_text()) and time.monotonic() < deadline:
            time.sleep(0.05)
        # As a browser opens the link from a terminal: from no page (Sec-Fetch-Site: none).
        signed_in = httpx.get(f"{url}/?token={token}", headers={"Sec-Fetch-Site": "none"})
        assert signed_in.status_code == 303, signed_in.text
        page = httpx.get(f"{url}/jobs", cookies=signed_in.cookies)
        assert page.status_code == 200 and "Peek" in page.text
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)


def test_a_missing_input_file_is_named(tmp_path: Path, env: dict[str, str]) -> None:
    path = script(tmp_path, "files.wit", "Job:Files(Blob:input) { }")
    done = wit("run", str(path), "input=missing.png", "--json", cwd=tmp_path, env=env)
    assert done.returncode == 2
    assert json.loads(done.stdout)["error"] == (
        "parameter 'input' (Blob): cannot read 'missing.png': No such file or directory"
    )


def test_activities_lists_compute_signatures(tmp_path: Path) -> None:
    done = wit("activities", "--json", cwd=tmp_path)
    assert done.returncode == 0
    data = json.loads(done.stdout)
    signatures = {a["name"]: a["signature"] for a in data["activities"]}
    assert signatures["Compute.IsPrime"] == "Compute.IsPrime(Long n) -> Bool"
    assert signatures["Compute.Work"] == "Compute.Work(Double units) -> Double"
    assert "Grid.ForEach(ProcessingOptions? options)" in data["forms"]
    assert {"Int", "Color", "Blob", "ProcessingOptions"} <= {t["name"] for t in data["types"]}


def test_ctrl_c_cancels_a_running_job(tmp_path: Path, env: dict[str, str]) -> None:
    ledger = tmp_path / "ran.txt"
    path = script(
        tmp_path,
        "slow.wit",
        """
        Job:Slow(String:log)
        {
            Int:started = 1;
            IntCollection:ran = Grid.ForEach(i in Int.Range(0, 40)) => Testing.Record(i, log, 500);
        }
        """,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "witengine", "run", str(path), f"log={ledger}", "--json"],
        cwd=tmp_path,
        env={**env, "WIT_PLUGINS": "witengine.testing.plugins:plugin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    # The map runs once a node has started an item of it: the item's line in the ledger.
    while time.monotonic() < deadline and not (ledger.exists() and ledger.read_text()):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 130
    result = json.loads(stdout)
    assert result["status"] == "cancelled"
    assert result["variables"] == {"started": 1}
    assert len(ledger.read_text().splitlines()) < 40  # cancelled, not run to its end
    assert json.loads((tmp_path / "wit-out" / "Slow" / "results.json").read_text()) == result


def test_ctrl_c_while_the_farm_starts_ends_with_a_cancelled_line_and_results(
    tmp_path: Path, env: dict[str, str]
) -> None:
    path = script(
        tmp_path, "naps.wit", "Job:Naps() { Grid.ForEach(i in [1, 2]) => Compute.Sleep(i); }"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "witengine", "run", str(path), "--nodes=1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 60
    line = ""
    while not line.startswith("dashboard: ") and time.monotonic() < deadline:
        line = process.stderr.readline()
    process.send_signal(signal.SIGINT)  # the job is being sent while the farm starts
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr.strip().splitlines()[-1].startswith("cancelled: "), stderr
    written = json.loads((tmp_path / "wit-out" / "Naps" / "results.json").read_text())
    assert written["status"] == "cancelled"


def _runs_a_batch(pid: int) -> bool:
    """Whether a node under the command has its batch runner up (started before any batch)."""
    import psutil

    for child in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "witengine.node.batch_process" in child.cmdline():
                return True
    return False


CHATTY = """
Job:Chatty()
{
    Int:direct = Testing.Chatty(0);
    IntCollection:twice = Grid.ForEach(i in Int.Range(1, 4)) => Testing.Chatty(i);
}
"""


@pytest.mark.parametrize("where", ["--local", "--nodes=1"])
def test_an_activity_that_prints_leaves_the_json_answer_whole(
    tmp_path: Path, env: dict[str, str], where: str
) -> None:
    path = script(tmp_path, "chatty.wit", CHATTY)
    env = {**env, "WIT_PLUGINS": "witengine.testing.plugins:plugin"}
    done = wit("run", str(path), "--json", where, cwd=tmp_path, env=env)
    result = json.loads(done.stdout)  # the whole of stdout is the one JSON object
    assert result["status"] == "completed", done.stderr
    assert result["variables"] == {"direct": 0, "twice": [2, 4, 6]}
    if where == "--local":  # on a farm, what the hub and nodes print goes to their logs
        assert "working on 0" in done.stderr


def test_a_plugin_that_cannot_load_is_named_without_a_traceback(
    tmp_path: Path, env: dict[str, str]
) -> None:
    path = script(tmp_path, "ok.wit", 'Job:A() { Trace("hi"); }')
    env = {**env, "WIT_PLUGINS": "nosuch.module:plugin"}
    for command in (["check", str(path)], ["run", str(path), "--local"], ["activities"]):
        done = wit(*command, cwd=tmp_path, env=env)
        assert done.returncode != 0, command
        assert "Traceback" not in done.stderr, command
        assert "nosuch.module:plugin" in done.stdout + done.stderr, command


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_the_farm_started_by_run_ends_with_the_command(
    tmp_path: Path, env: dict[str, str], sig: signal.Signals
) -> None:
    import psutil

    path = script(
        tmp_path,
        "slow.wit",
        """
        Job:Slow()
        {
            IntCollection:waits = Grid.ForEach(i in Int.Range(0, 40)) => Compute.Sleep(500);
        }
        """,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "witengine", "run", str(path), "--nodes=1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not _runs_a_batch(process.pid):
        time.sleep(0.05)
    farm = psutil.Process(process.pid).children(recursive=True)
    assert len(farm) >= 3, "a hub, a node and its batch runner"
    process.send_signal(sig)
    process.wait(timeout=30)
    if sig == signal.SIGTERM:
        assert process.returncode == 143
    _, alive = psutil.wait_procs(farm, timeout=30)
    assert not alive, [p.cmdline() for p in alive]


def _start_run_on_hub(tmp_path: Path, farm: Any) -> tuple[subprocess.Popen[str], str]:
    """`wit run --json --hub` of a slow job, once its job runs on the hub."""
    from witengine.testing.processes import wait_until

    path = script(
        tmp_path,
        "slow.wit",
        """
        Job:Slow()
        {
            Int:started = 1;
            IntCollection:waits = Grid.ForEach(i in Int.Range(0, 20)) => Compute.Sleep(300);
        }
        """,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "witengine", "run", str(path), "--json", "--hub", farm.url],
        cwd=tmp_path,
        env=farm.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    jobs = wait_until(lambda: farm.api("GET", "/jobs").json(), 60, "the job")
    job_id: str = jobs[0]["id"]
    wait_until(lambda: farm.job(job_id)["status"] == "running", 60, "the job to run")
    return process, job_id


def test_ctrl_c_on_a_hub_cancels_the_job_and_waits_for_its_end(tmp_path: Path) -> None:
    from witengine.testing.processes import ProcessFarm, free_port, wait_until

    farm = ProcessFarm(tmp_path, free_port())
    try:
        farm.start_hub()
        farm.start_node("only")
        wait_until(lambda: farm.online() == ["only"], 60, "the node to join")
        process, job_id = _start_run_on_hub(tmp_path, farm)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, stderr
        assert f"cancelling job {job_id} (Ctrl-C again to stop waiting and leave it as it is" in (
            stderr
        )
        assert farm.job(job_id)["status"] == "cancelled"  # ended before the command did
        result = json.loads(stdout)
        assert result["status"] == "cancelled" and result["variables"] == {"started": 1}
        written = tmp_path / "wit-out" / "Slow" / "results.json"
        assert json.loads(written.read_text()) == result  # as the farm started here writes it
    finally:
        farm.stop()


def test_a_second_ctrl_c_on_a_hub_stops_waiting_and_leaves_the_job_as_it_is(
    tmp_path: Path,
) -> None:
    from witengine.testing.processes import ProcessFarm, free_port, wait_until

    farm = ProcessFarm(tmp_path, free_port())
    try:
        farm.start_hub()
        farm.start_node("only")
        wait_until(lambda: farm.online() == ["only"], 60, "the node to join")
        process, job_id = _start_run_on_hub(tmp_path, farm)
        assert farm.hub is not None
        os.kill(farm.hub.pid, signal.SIGSTOP)  # a hub that answers nothing: the wait is endless
        try:
            process.send_signal(signal.SIGINT)
            assert process.stderr is not None
            assert f"cancelling job {job_id}" in process.stderr.readline() + (
                process.stderr.readline()
            )
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=30)
        finally:
            os.kill(farm.hub.pid, signal.SIGCONT)
        assert process.returncode == 130, stderr
        assert json.loads(stdout) == {
            "status": "cancelled",
            "error": f"stopped waiting for job {job_id}, left as it is on {farm.url}: follow it "
            f"with `wit job {job_id}`",
            "variables": {},
        }
    finally:
        farm.stop()


def test_version(tmp_path: Path) -> None:
    done = wit("--version", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.startswith("witengine ")


def test_a_hub_on_a_taken_port_says_so_without_a_traceback(tmp_path: Path) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = wit("hub", "--port", str(port), "--data-dir", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_hub_handed_a_socket_that_does_not_listen_says_so(tmp_path: Path) -> None:
    import socket

    with socket.socket() as bound:  # bound, as the embedded farm's would be, but not listening
        bound.bind(("127.0.0.1", 0))
        fd = bound.fileno()
        command = ["hub", "--listen-fd", str(fd), "--data-dir", str(tmp_path)]
        done = subprocess.run(
            [sys.executable, "-m", "witengine", *command],
            capture_output=True,
            text=True,
            timeout=120,
            pass_fds=(fd,),
        )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"wit hub: cannot listen on file descriptor {fd}: file descriptor {fd} is not a "
        "listening TCP socket"
    )
    assert not (tmp_path / "hub.sqlite3").exists()


def test_pause_resume_and_cancel_commands_act_and_report_the_new_status(tmp_path: Path) -> None:
    from witengine.testing.processes import ProcessFarm, free_port, wait_until

    farm = ProcessFarm(tmp_path, free_port())
    try:
        farm.start_hub()  # no node: the job waits in its map, running
        job_id = farm.submit(
            "Job:A() { Int:x = 1; Grid.ForEach(i in [1, 2]) => Compute.Sleep(i); }", {}
        )
        wait_until(lambda: farm.job(job_id)["status"] == "running", 60, "the job to run")
        assert farm.token is not None
        hub = ("--hub", farm.url, "--token", farm.token)
        listed = subprocess.run(
            [sys.executable, "-m", "witengine", "jobs", *hub],
            env={**os.environ, "COLUMNS": "80"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        (short,) = re.findall(r"^job_\w+", listed.stdout, flags=re.MULTILINE)
        assert job_id.startswith(short) and short != job_id  # as `docker ps` shows ids
        for action, status in (("pause", "paused"), ("resume", "running")):
            done = wit(action, short, *hub, cwd=tmp_path)  # a short id names it as well
            assert done.returncode == 0, done.stderr
            assert done.stdout.strip() == f"{job_id}: {status}"
        done = wit("cancel", job_id, *hub, cwd=tmp_path)
        assert done.stdout.strip() == f"{job_id}: cancelled"
    finally:
        farm.stop()


def test_rerun_refuses_a_running_job_and_runs_a_cancelled_one_again(tmp_path: Path) -> None:
    import re

    from witengine.testing.processes import ProcessFarm, free_port, wait_until

    farm = ProcessFarm(tmp_path, free_port())
    try:
        farm.start_hub()  # no node: the job waits in its map, running
        job_id = farm.submit("Job:A() { Grid.ForEach(i in [1, 2]) => Compute.Sleep(i); }", {})
        wait_until(lambda: farm.job(job_id)["status"] == "running", 60, "the job to run")
        assert farm.token is not None
        hub = ("--hub", farm.url, "--token", farm.token)
        done = wit("rerun", job_id, *hub, cwd=tmp_path)
        assert done.returncode == 1
        assert f"cannot re-run job {job_id}: it is running; only a failed" in done.stderr
        wit("cancel", job_id, *hub, cwd=tmp_path)
        done = wit("rerun", job_id, *hub, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        again = re.fullmatch(rf"(job_\w+): queued, a re-run of {job_id}\n", done.stdout)
        assert again is not None, done.stdout
        assert farm.job(again[1])["rerun_of"] == job_id
        wit("cancel", again[1], *hub, cwd=tmp_path)
    finally:
        farm.stop()
