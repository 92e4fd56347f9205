"""Nodes and a `wit hub --tls` as real processes on 127.0.0.1: a node pinned to the hub's
certificate works over HTTPS and WSS; a node whose pin does not match refuses the hub, says why,
exits, and never sends its token."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from witengine.protocol.states import JobStatus
from witengine.security.tls import ensure_certificate
from witengine.security.tokens import Role, make_token
from witengine.testing.processes import ProcessFarm, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

WRONG = "sha256:" + "ab" * 32
SCRIPT = """Job:Doubles(Int:n, String:ledger)
{
    IntCollection:doubled = Grid.ForEach(i in Int.Range(0, n)) => Testing.Record(i, ledger);
}
"""
REFUSE_SECONDS = 30  # a node that refuses its hub exits well within this


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path, free_port(), tls=True)
    farm.start_hub()
    try:
        yield farm
    finally:
        farm.stop()


def call(farm: ProcessFarm, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """A request to the hub as its admin (the token its first start wrote), pinned."""
    admin = (farm.root / "hub" / "admin.token").read_text().strip()
    return farm.api(method, path, headers={"Authorization": f"Bearer {admin}"}, **kwargs)


def join_token(farm: ProcessFarm) -> str:
    response = call(farm, "POST", "/tokens", json={"role": "node", "label": "tls test"})
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


def online(farm: ProcessFarm) -> list[str]:
    return sorted(n["name"] for n in call(farm, "GET", "/nodes").json() if n["state"] != "offline")


def exited(farm: ProcessFarm, name: str) -> int | None:
    """The node's exit code once it has exited on its own (within REFUSE_SECONDS)."""
    process = farm.nodes[name]
    try:
        return process.wait(REFUSE_SECONDS)
    except subprocess.TimeoutExpired:
        return None


def test_a_node_pinned_by_its_join_token_runs_a_job_over_https_and_wss(farm: ProcessFarm) -> None:
    assert farm.url.startswith("https://")
    farm.start_node("a", "--token", join_token(farm))
    wait_until(lambda: online(farm) == ["a"], 60, "node a to connect over wss")

    parameters = {"n": "12", "ledger": str(farm.root / "ledger.txt")}
    body = {"script": SCRIPT, "filename": "doubles.wit", "parameters": parameters}
    response = call(farm, "POST", "/jobs", json=body, timeout=30)
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]

    def ended() -> dict[str, Any] | None:
        job: dict[str, Any] = call(farm, "GET", f"/jobs/{job_id}").json()
        return job if JobStatus(job["status"]).ended else None

    job = wait_until(ended, 60, "the job to end")
    assert job["status"] == "completed", job.get("error")
    assert job["variables"]["doubled"] == [2 * i for i in range(12)]
    assert f"connected to {farm.url} as node_" in farm.log("a")

    # wit run --hub over https: upload, submit, the event stream, results; pinned once.
    script = farm.root / "doubles.wit"
    script.write_text(SCRIPT)
    env = {**farm.env, "WIT_CONFIG_DIR": str(farm.root / "config")}
    ledger = f"ledger={farm.root / 'ledger-2.txt'}"
    command = [sys.executable, "-m", "witengine", "run", str(script), "n=5", ledger, "--json"]
    command += ["--hub", farm.url, "--out", str(farm.root / "out")]
    assert farm.fingerprint is not None
    done = subprocess.run(
        [*command, "--fingerprint", farm.fingerprint],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["variables"]["doubled"] == [0, 2, 4, 6, 8]


def test_a_node_given_a_wrong_fingerprint_refuses_the_hub_and_never_enrols(
    farm: ProcessFarm,
) -> None:
    token = join_token(farm)
    farm.start_node("wrong", "--token", token, "--fingerprint", WRONG)

    code = exited(farm, "wrong")

    log = farm.log("wrong")
    assert code not in (None, 0), log
    assert (
        f"the hub at {farm.url} presented certificate {farm.fingerprint}, but this node is "
        f"pinned to {WRONG}"
    ) in log
    assert log.count("presented certificate") == 1  # said once, not retried
    token_id = token.split(".")[1]
    (listed,) = [t for t in call(farm, "GET", "/tokens").json() if t["id"] == token_id]
    assert listed["uses"] == 0 and listed["last_used"] is None  # the hub never saw it
    audit = call(farm, "GET", "/audit").json()
    assert [line for line in audit if "enrol" in line["action"]] == []
    assert online(farm) == []


def test_a_node_refuses_its_hub_once_the_certificate_it_pinned_is_replaced(
    farm: ProcessFarm,
) -> None:
    farm.start_node("a", "--token", join_token(farm))
    wait_until(lambda: online(farm) == ["a"], 60, "node a to connect")
    first = farm.fingerprint
    farm.kill_node("a")
    farm.kill_hub()
    shutil.rmtree(farm.root / "hub" / "tls")  # a new certificate at the next start
    farm.start_hub()
    assert farm.fingerprint != first

    farm.start_node("a")  # enrolled already: its credential and pin are in its cache folder

    code = exited(farm, "a")
    log = farm.log("a")
    assert code not in (None, 0), log
    assert (
        f"the hub at {farm.url} presented certificate {farm.fingerprint}, but this node is "
        f"pinned to {first}; if the hub's certificate was replaced on purpose, remove"
    ) in log


# ------------------------------------------------------------------ a capture


class RecordingTlsServer:
    """A TLS server on 127.0.0.1 (in a thread) that counts connections and keeps every byte it
    receives, in clear."""

    def __init__(self, folder: Path) -> None:
        self.identity = ensure_certificate(folder)
        self.received: list[bytes] = []
        self.connections = 0
        self.port = 0
        self.ready = threading.Event()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.identity.cert_path, self.identity.key_path)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1  # TLS starts after the count: a refused handshake counts too
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(writer.start_tls(context), 10)
                while data := await asyncio.wait_for(reader.read(65536), 10):
                    self.received.append(data)
            writer.close()

        async def start() -> asyncio.Server:
            server = await asyncio.start_server(handle, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            self.ready.set()
            return server

        server = self.loop.run_until_complete(start())
        self.loop.run_forever()
        server.close()
        self.loop.run_until_complete(server.wait_closed())
        self.loop.close()

    def __enter__(self) -> RecordingTlsServer:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def test_a_node_sends_nothing_to_a_server_whose_certificate_is_not_its_pin(
    tmp_path: Path,
) -> None:
    pinned = ensure_certificate(tmp_path / "real-hub").fingerprint
    token = make_token(Role.JOIN, fingerprint=pinned).text
    farm = ProcessFarm(tmp_path, free_port(), tls=True)  # only to run the node process
    with RecordingTlsServer(tmp_path / "impostor") as impostor:
        url = f"https://127.0.0.1:{impostor.port}"
        try:
            farm.start_node("n", "--token", token, hub_url=url)
            code = exited(farm, "n")
        finally:
            farm.stop()

    log = farm.log("n")
    assert code not in (None, 0), log  # None: still running after the bounded wait
    assert (
        f"the hub at {url} presented certificate {impostor.identity.fingerprint}, but this node "
        f"is pinned to {pinned}"
    ) in log
    assert impostor.connections >= 1  # it did reach the impostor…
    assert b"".join(impostor.received) == b""  # …and sent it nothing: no request, no token
