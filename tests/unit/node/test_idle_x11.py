"""The x11 source against a real X server: Xvfb on a free display, its screen-saver extension
asked through python-xlib as on a desktop. Skipped where Xvfb is not installed."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from witengine.node.idle import X11Idle

pytestmark = pytest.mark.skipif(shutil.which("Xvfb") is None, reason="no Xvfb")


@pytest.fixture
def xvfb(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    # -displayfd: Xvfb picks a free display and writes its number when it is ready.
    read_end = tmp_path / "display"
    with read_end.open("w+") as written:
        server = subprocess.Popen(
            [
                "Xvfb",
                "-displayfd",
                str(written.fileno()),
                "-nolisten",
                "tcp",
                "-screen",
                "0",
                "320x240x24",
            ],
            pass_fds=(written.fileno(),),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 20
            while not read_end.read_text().strip().isdigit():
                assert time.monotonic() < deadline, "Xvfb did not start"
                time.sleep(0.05)
            yield ":" + read_end.read_text().strip(), server
        finally:
            server.terminate()
            server.wait(10)


def test_x11_reads_the_server_s_idle_time(xvfb: tuple[str, subprocess.Popen[bytes]]) -> None:
    source = X11Idle(display=xvfb[0])
    try:
        first = source.idle_seconds()
        assert first is not None
        time.sleep(0.3)
        later = source.idle_seconds()
        assert later is not None
        assert later > first  # nobody types on a virtual framebuffer
    finally:
        source.close()


def test_a_server_that_goes_away_leaves_no_desktop(
    xvfb: tuple[str, subprocess.Popen[bytes]],
) -> None:
    display, server = xvfb
    source = X11Idle(display=display, wall=lambda: 0.0)
    assert source.idle_seconds() is not None
    server.terminate()
    server.wait(10)
    assert source.idle_seconds() is None
    assert source.idle_seconds() is None  # and it does not try again before RECONNECT_SECONDS
    assert X11Idle(display=display).idle_seconds() is None
