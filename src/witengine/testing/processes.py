"""Real hub and node processes for end-to-end tests and benchmarks: loopback only, bounded.

Every wait has a deadline; `ProcessFarm.stop()` kills whatever is left, frozen processes included.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from witengine.lifetime import die_with_parent
from witengine.protocol.states import JobStatus

TEST_PLUGINS = "witengine.testing.plugins:plugin"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `condition` until it returns something true, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@dataclass
class ProcessFarm:
    root: Path
    port: int
    hub_args: tuple[str, ...] = ("--lease", "3", "--heartbeat", "0.5", "--grace", "1")
    hub: subprocess.Popen[bytes] | None = None
    nodes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    hub_env: dict[str, str] = field(default_factory=dict)  # e.g. plugins only the hub has
    acknowledged: list[str] = field(default_factory=list)  # ids of jobs the hub answered 201 for
    tls: bool = False  # the hub serves HTTPS (wit hub --tls); requests pin its certificate
    advertise: bool = False  # the hub announces itself over mDNS (nodes may find it)
    _join: str | None = None  # the join token nodes enrol with

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def fingerprint(self) -> str | None:
        """The fingerprint of the hub's certificate, once a --tls hub has made it."""
        from witengine.security.tls import certificate_fingerprint

        return certificate_fingerprint(self.root / "hub") if self.tls else None

    @property
    def token(self) -> str | None:
        """The hub's admin token (admin.token in its data folder), once the hub has made it."""
        from witengine.security.files import read_private

        return read_private(self.root / "hub" / "admin.token")

    @property
    def env(self) -> dict[str, str]:
        """For the farm's processes; `wit` commands run with it get the admin token."""
        env = {
            **os.environ,
            "WIT_PLUGINS": TEST_PLUGINS,
            "PYTHONUNBUFFERED": "1",
            "WIT_CONFIG_DIR": str(self.root / "config"),  # pins and hub notes stay here
        }
        token = self.token
        if token is not None:
            env["WIT_TOKEN"] = token
        return env

    def wit(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """`wit ARGS` as a user runs it against this farm's hub (its admin token unless `env`
        names another, 200 columns), in the farm's folder; its output captured as text."""
        return subprocess.run(
            [sys.executable, "-m", "witengine", *args],
            env={**self.env, "WIT_HUB": self.url, "COLUMNS": "200", **(env or {})},
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def join_token(self) -> str:
        """A join token for this farm's nodes, made once through the API."""
        if self._join is None:
            response = self.api("POST", "/tokens", json={"role": "node", "label": "test farm"})
            assert response.status_code == 201, response.text
            self._join = str(response.json()["token"])
        return self._join

    def start_hub(self) -> None:
        command = ["hub", "--port", str(self.port), "--data-dir", str(self.root / "hub")]
        command += ["--tls"] if self.tls else []
        command += [] if self.advertise else ["--no-advertise"]
        self.hub = self._spawn("hub", [*command, *self.hub_args], {**self.env, **self.hub_env})
        wait_until(self._healthy, 60, "the hub to answer")

    def _healthy(self) -> bool:
        try:
            return self.api("GET", "/health", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request to the hub's API (`path` after /api/v1): the one place tests call it."""
        kwargs.setdefault("timeout", 5)
        token = self.token
        if token is not None:
            kwargs["headers"] = {"Authorization": f"Bearer {token}", **kwargs.get("headers", {})}
        fingerprint = self.fingerprint
        if fingerprint is not None:
            from witengine.security.tls import pinned_ssl_context

            kwargs.setdefault("verify", pinned_ssl_context(fingerprint, url=self.url))
        return httpx.request(method, f"{self.url}/api/v1{path}", **kwargs)

    def start_node(
        self,
        name: str,
        *args: str,
        hub_url: str | None = None,
        discover: bool = False,
        env: dict[str, str] | None = None,
        cheat: tuple[str, int] | None = None,
    ) -> None:
        """Start a node (through a proxy when `hub_url` says so; with no `--hub` at all, to
        look for its hub over mDNS, when `discover`; with `env` added to its environment, such
        as `WIT_HIDE_TOOLS`; as a cheater, `cheat` = (mode, seed): see `testing.cheaters`);
        its log is NAME.log."""
        command = ["node", "--name", name]
        command += [] if discover else ["--hub", hub_url or self.url]
        command += ["--cache-dir", str(self.root / name)]
        if "--token" not in args:  # enrols once; a restarted node uses its credential
            command += ["--token", self.join_token()]
        self.nodes[name] = self._spawn(
            name,
            [*command, "--max-backoff", "1", *args],
            {**self.env, **(env or {})},
            module=["witengine.testing.cheaters", cheat[0], str(cheat[1])] if cheat else None,
        )

    def _spawn(
        self,
        log_name: str,
        args: list[str],
        env: dict[str, str] | None = None,
        module: list[str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start `python -m witengine ARGS` (or `python -m MODULE...`, a launcher that runs the
        same command) in its own process group, logging to a file; it ends with the test run,
        even one killed outright."""
        with (self.root / f"{log_name}.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", *(module or ["witengine"]), *args],
                stdout=log,
                stderr=log,
                env=env or self.env,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )

    def online(self) -> list[str]:
        nodes = self.api("GET", "/nodes").json()
        return sorted(n["name"] for n in nodes if n["state"] != "offline")

    def signal_node(self, name: str, sig: int) -> None:
        os.killpg(self.nodes[name].pid, sig)

    def kill_node(self, name: str) -> None:
        """SIGKILL a node and its runners, and reap it."""
        process = self.nodes[name]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)

    def kill_hub(self) -> None:
        assert self.hub is not None
        os.killpg(self.hub.pid, signal.SIGKILL)
        self.hub.wait(10)

    def submit(self, script: str, parameters: dict[str, str]) -> str:
        response = self.api(
            "POST",
            "/jobs",
            json={"script": script, "filename": "test.wit", "parameters": parameters},
            timeout=30,
        )
        assert response.status_code == 201, response.text
        job_id: str = response.json()["id"]
        self.acknowledged.append(job_id)
        return job_id

    def job(self, job_id: str) -> dict[str, Any]:
        try:
            data: dict[str, Any] = self.api("GET", f"/jobs/{job_id}").json()
            return data
        except httpx.HTTPError:
            return {}

    def wait_done(self, job_id: str, timeout: float) -> dict[str, Any]:
        def ended() -> dict[str, Any] | None:
            job = self.job(job_id)
            return job if JobStatus(job["status"]).ended else None

        found: dict[str, Any] = wait_until(ended, timeout, f"job {job_id} to end")
        return found

    def stop(self) -> None:
        for process in [*self.nodes.values(), self.hub]:
            if process is not None and process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGCONT)
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait(10)

    def timed_gets(self, path: str, seconds: float) -> list[float]:
        """Seconds each GET of `path` (after /api/v1) took, sent one after another for
        `seconds` on one kept-alive connection (a new client per request would time making an
        SSL context, some 30 ms, not the hub); AssertionError on an answer other than 200."""
        took = []
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=f"{self.url}/api/v1", headers=headers, timeout=30) as client:
            ends = time.monotonic() + seconds
            while time.monotonic() < ends:
                started = time.perf_counter()
                answer = client.get(path)
                took.append(time.perf_counter() - started)
                assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text}"
        return took

    def log(self, name: str = "hub") -> str:
        return (self.root / f"{name}.log").read_text(errors="replace")


def ledger_items(path: Path) -> list[int]:
    """The items of a `Testing.Record` ledger, one per line, in the order they were written:
    executions as they started (LEDGER), or as they finished (LEDGER.done)."""
    if not path.exists():
        return []
    return [int(line.split()[0]) for line in path.read_text().splitlines()]


def ledger_counts(path: Path) -> dict[int, int]:
    """How many times each item's execution started."""
    counts: dict[int, int] = {}
    for item in ledger_items(path):
        counts[item] = counts.get(item, 0) + 1
    return counts


def progress(farm: ProcessFarm, job_id: str) -> int:
    job = farm.job(job_id)
    done: int = job.get("progress", {}).get("done", 0)
    return done
