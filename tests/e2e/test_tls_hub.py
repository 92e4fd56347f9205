"""`wit hub --tls` as a real process on 127.0.0.1: its certificate made once and kept, the
fingerprint it prints, `HubClient` pinned to it, and the policy that keeps tokens off plain HTTP
between machines."""

from __future__ import annotations

import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from witengine.client import HubClient, HubError
from witengine.security.connect import InsecureTransport
from witengine.security.tls import fetch_fingerprint, pin_path, read_pin
from witengine.testing.processes import ProcessFarm, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

WRONG = "sha256:" + "ab" * 32


@pytest.fixture
def farm(tmp_path: Path) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path, free_port(), tls=True)
    try:
        yield farm
    finally:
        farm.stop()


def printed_fingerprints(farm: ProcessFarm) -> list[str]:
    return re.findall(r"^certificate fingerprint (sha256:[0-9a-f]{64})$", farm.log(), re.M)


def admin_token(farm: ProcessFarm) -> str | None:
    path = farm.root / "hub" / "admin.token"
    return path.read_text().strip() if path.exists() else None


def wit(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "witengine", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


async def test_the_certificate_is_made_once_and_kept_across_restarts(farm: ProcessFarm) -> None:
    farm.start_hub()
    first = farm.fingerprint
    assert first is not None
    assert f"listening on {farm.url} " in farm.log()
    assert await fetch_fingerprint(farm.url) == first
    key = farm.root / "hub" / "tls" / "key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600

    farm.kill_hub()
    farm.start_hub()

    assert await fetch_fingerprint(farm.url) == first
    assert printed_fingerprints(farm) == [first, first]
    shown = wit("hub", "--show-fingerprint", "--data-dir", str(farm.root / "hub"))
    assert (shown.returncode, shown.stdout) == (0, first + "\n")


async def test_hub_client_talks_https_to_the_pinned_hub_and_keeps_the_pin(
    farm: ProcessFarm, tmp_path: Path
) -> None:
    farm.start_hub()
    pin = pin_path(tmp_path / "pins", farm.url)
    token = admin_token(farm)

    async with HubClient(
        farm.url, token=token, fingerprint=farm.fingerprint, pin_file=pin
    ) as client:
        assert (await client.health())["status"] == "ok"
        assert await client.jobs() == []
    assert read_pin(pin) == farm.fingerprint

    async with HubClient(farm.url, token=token, pin_file=pin) as client:  # the pin alone now
        assert await client.jobs() == []


async def test_hub_client_refuses_a_hub_that_does_not_match_its_pin(
    farm: ProcessFarm, tmp_path: Path
) -> None:
    farm.start_hub()
    token = admin_token(farm) or "no-token"

    async with HubClient(farm.url, token=token, fingerprint=WRONG) as client:
        with pytest.raises(HubError) as caught:
            await client.health()
    assert str(caught.value).startswith(
        f"the hub at {farm.url} presented certificate {farm.fingerprint}, but this machine is "
        f"pinned to {WRONG}; check the fingerprint given"
    )

    async with HubClient(farm.url, token=token) as client:  # no pin: the authorities decide
        with pytest.raises(HubError, match="presented a certificate this machine does not trust"):
            await client.health()


def test_the_cli_pins_the_hub_on_first_contact_and_names_the_pin_file_on_a_mismatch(
    farm: ProcessFarm, tmp_path: Path
) -> None:
    farm.start_hub()
    fingerprint = farm.fingerprint
    assert fingerprint is not None
    env = {**farm.env, "WIT_CONFIG_DIR": str(tmp_path / "config"), "WIT_HUB": farm.url}
    env["WIT_TOKEN"] = admin_token(farm) or ""

    first = wit("jobs", "--json", "--fingerprint", fingerprint, env=env)
    assert (first.returncode, first.stdout) == (0, "[]\n"), first.stderr
    again = wit("jobs", "--json", env=env)  # the saved pin
    assert (again.returncode, again.stdout) == (0, "[]\n"), again.stderr

    pin = pin_path(tmp_path / "config" / "pins", farm.url)
    assert read_pin(pin) == fingerprint
    pin.write_text(WRONG + "\n")  # as if the hub's certificate had been replaced
    refused = wit("jobs", env=env)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"the hub at {farm.url} presented certificate {fingerprint}, but this machine is pinned "
        f"to {WRONG}; if the hub's certificate was replaced on purpose, remove {pin}"
    )


def test_a_hub_refuses_to_listen_off_loopback_without_tls(tmp_path: Path) -> None:
    port = str(free_port())
    done = wit("hub", "--host", "0.0.0.0", "--port", port, "--data-dir", str(tmp_path))

    assert done.returncode == 2
    assert done.stderr.startswith("wit hub: refusing to listen on 0.0.0.0 without TLS")
    assert "Add --tls" in done.stderr and "--insecure" in done.stderr
    assert not (tmp_path / "hub.sqlite3").exists()


def test_a_hub_on_loopback_needs_no_tls(tmp_path: Path) -> None:
    farm = ProcessFarm(tmp_path, free_port())
    try:
        farm.start_hub()
        assert farm.url.startswith("http://127.0.0.1:")
        wait_until(lambda: "listening on http://127.0.0.1:" in farm.log(), 10, "its first line")
        assert not (tmp_path / "hub" / "tls").exists()
    finally:
        farm.stop()


async def test_a_client_refuses_to_send_a_token_over_http_to_another_machine() -> None:
    with pytest.raises(InsecureTransport, match=r"refusing to send a token over plain HTTP"):
        HubClient("http://192.0.2.10:7310", token="wit-secret")
    async with HubClient("http://192.0.2.10:7310", token="wit-secret", insecure=True):
        pass  # said knowingly
    async with HubClient("http://127.0.0.1:7310", token="wit-secret"):
        pass  # loopback stays allowed
    async with HubClient("http://192.0.2.10:7310"):
        pass  # no token, nothing to leak


def test_the_cli_refuses_to_send_a_token_over_http_to_another_machine(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "WIT_TOKEN": "wit-secret",
        "WIT_CONFIG_DIR": str(tmp_path),
    }
    done = wit("jobs", "--hub", "http://192.0.2.10:7310", env=env)

    assert done.returncode == 1
    assert "refusing to send a token over plain HTTP to http://192.0.2.10:7310" in done.stderr
    assert "--insecure" in done.stderr
