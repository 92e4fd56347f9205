"""The Blender add-on in two Blenders: Debian's 3.4, in the background, installed from the
add-on zip into a temporary user folder; and 4.5 LTS, the `bpy` module from PyPI in .venv-bpy
(scripts/bootstrap.sh bpy), driven through bpy_blender.py (Blender's command line over the
module), installed from the extension zip into a user extensions repository as Blender's
Install from Disk does, with Allow Online Access ticked. Each against a real hub and node on
loopback: a scene with an external texture sent from the add-on's operator and saved, the file
reopened and its job found and followed by the timer until done, its frames back in the output
folder with the pixels plain Blender gives and Blender's names, the video beside them, the job
on the hub and its id in the scene; Cancel; a missing texture, a wrong token and a wrong
certificate fingerprint refused as Blender reports with the reason; the panel drawn while
idle, following and done. With 4.5 the farm's node renders with 4.5 too (a file 4.5 saved is
refused by an older Blender), and so do the reference frames.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from witengine.addon import PACKAGE, build, install
from witengine.plugins.render.blendfile import SceneFacts, scene_facts
from witengine.testing.multicast import LOOPBACK, multicast_on_loopback
from witengine.testing.processes import ProcessFarm, free_port, wait_until
from witengine.testing.scenes import make_sample_scene
from witengine.testing.swatches import png

DRIVER = Path(__file__).with_name("blender_addon") / "drive.py"
BPY_BLENDER = Path(__file__).with_name("blender_addon") / "bpy_blender.py"
BPY_PYTHON = Path(__file__).resolve().parents[2] / ".venv-bpy" / "bin" / "python"
EXTENSION_MODULE = "bl_ext.user_default.witengine_blender"
pytestmark = [pytest.mark.blender, pytest.mark.slow, pytest.mark.timeout(180)]
WIDTH, HEIGHT, FRAMES = 64, 36, 3


def missing(flavour: str) -> str:
    """Why that Blender cannot run here ("" when it can)."""
    if shutil.which("ffmpeg") is None:
        return "ffmpeg not installed (scripts/bootstrap.sh ffmpeg)"
    if flavour == "3.4" and shutil.which("blender") is None:
        return "Debian's Blender not installed (scripts/bootstrap.sh blender)"
    if flavour == "4.5" and not BPY_PYTHON.is_file():
        return "Blender 4.5 (the bpy module) not installed in .venv-bpy (scripts/bootstrap.sh bpy)"
    return ""


FLAVOURS = [
    pytest.param(
        name, id=label, marks=pytest.mark.skipif(bool(missing(name)), reason=missing(name))
    )
    for name, label in (("3.4", "blender-3.4-debian"), ("4.5", "bpy-4.5-pypi"))
]


@dataclass
class Setup:
    farm: ProcessFarm
    folder: Path
    env: dict[str, str]
    scene: Path
    blender: str  # the program: Debian's blender, or bpy 4.5 behind Blender's command line
    version: str
    module: str  # the add-on's module as Blender enabled it


def bpy_blender(folder: Path) -> Path:
    """A `blender` program (a shell script) that runs Blender 4.5 from the bpy module."""
    shim = folder / "bin" / "blender"
    shim.parent.mkdir(parents=True)
    shim.write_text(f'#!/bin/sh\nexec "{BPY_PYTHON}" "{BPY_BLENDER}" "$@"\n')
    shim.chmod(0o755)
    return shim


@pytest.fixture(scope="module", params=FLAVOURS)
def setup(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    flavour: str = request.param
    folder = tmp_path_factory.mktemp(f"addon-{flavour}")
    scripts = folder / "user" / "scripts"
    legacy, extension = build(folder / "dist")
    env = {
        **os.environ,
        "BLENDER_USER_SCRIPTS": str(scripts),
        "BLENDER_USER_CONFIG": str(folder / "user" / "config"),  # the user's own stay as they are
        "BLENDER_USER_EXTENSIONS": str(folder / "user" / "extensions"),
    }
    node_env: dict[str, str] = {}
    if flavour == "3.4":
        blender, version, module = "blender", "3.4.1", "witengine_blender"
        zipfile.ZipFile(legacy).extractall(scripts / "addons")
    else:
        shim = bpy_blender(folder)
        blender, version, module = str(shim), "4.5", EXTENSION_MODULE
        env["BLENDER_SHIM"] = blender  # the add-on's packing runs this Blender
        node_env["PATH"] = f"{shim.parent}{os.pathsep}{os.environ['PATH']}"  # the node's too
        install = (
            "import bpy; bpy.ops.extensions.package_install_files(repo='user_default', "
            f"filepath={str(extension)!r}, enable_on_install=False)"
        )
        done = subprocess.run(
            [
                blender,
                "-b",
                "--factory-startup",
                "--python-exit-code",
                "1",
                "--python-expr",
                install,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=100,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert (folder / "user" / "extensions" / "user_default" / PACKAGE).is_dir()
    texture = folder / "artist" / "textures" / "swatch.png"
    texture.parent.mkdir(parents=True)
    texture.write_bytes(png(8, 8, (200, 40, 30)))
    scene = make_sample_scene(
        folder / "artist" / "shot.blend",
        frames=FRAMES,
        width=WIDTH,
        height=HEIGHT,
        samples=2,
        extra=("--texture", str(texture)),
        blender=blender,
    )
    (folder / "farm").mkdir()
    farm = ProcessFarm(folder / "farm", free_port(), advertise=True)  # Find on the LAN finds it
    try:
        farm.start_hub()
        farm.start_node("a", "--threads", "1", "--slots", "1", "--no-bench", env=node_env)
        wait_until(lambda: farm.online() == ["a"], 60, "the node to connect")
        yield Setup(farm, folder, env, scene, blender, version, module)
    finally:
        farm.stop()


def drive(setup: Setup, scene: Path, **config: Any) -> tuple[dict[str, Any], str]:
    """Run the driver in background Blender; what it found, and Blender's output."""
    config = {
        "hub": setup.farm.url,
        "token": setup.farm.token,
        "pin": "",
        "module": setup.module,
        **config,
    }
    done = subprocess.run(
        [
            *(setup.blender, "-b", "--factory-startup", "-noaudio", "--python-exit-code", "1"),
            *(str(scene), "-P", str(DRIVER), "--", json.dumps(config)),
        ],
        env=setup.env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    line = next(line for line in done.stdout.splitlines() if line.startswith("WITRESULT="))
    return json.loads(line.removeprefix("WITRESULT=")), output


def pixels(path: Path) -> bytes:
    done = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return done.stdout


def test_the_scene_renders_on_the_farm_from_blender_and_its_frames_come_back(
    setup: Setup,
) -> None:
    out = setup.folder / "farm-frames"
    plain = setup.folder / "plain"
    plain_blender = subprocess.Popen(  # the same frames, rendered as an artist would
        [setup.blender, "-b", str(setup.scene), "-o", str(plain / "####"), "-F", "PNG", "-a"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sent = setup.scene.with_name("shot-sent.blend")
    try:
        submitted, output = drive(
            setup, setup.scene, do="submit", save=str(sent), settings={"output_folder": str(out)}
        )
        found, _ = drive(setup, setup.scene, do="reopen", file=str(sent))
    finally:
        assert plain_blender.wait(60) == 0

    # The hub reads the scene's size and samples from the file, as this Blender saved it.
    assert scene_facts(sent) == SceneFacts(WIDTH, HEIGHT, 100, "CYCLES", 2, 1, FRAMES)
    job_id = submitted["job_id"]
    assert submitted["submit"] == "" and job_id.startswith("job_"), output
    assert found["stage"] == "following" and found["job_id"] == job_id  # found in the file
    assert (found["status"], found["done"], found["total"]) == ("completed", FRAMES, FRAMES)
    names = [f"{n:04d}.png" for n in range(1, FRAMES + 1)]
    assert sorted(p.name for p in out.iterdir()) == [*names, "shot-sent.mp4"]
    for name in names:
        assert pixels(out / name) == pixels(plain / name), name
    assert f"Info: witengine: submitted {job_id}" in output
    record = setup.farm.api("GET", f"/jobs/{job_id}").json()
    assert record["status"] == "completed" and record["filename"] == "shot"
    assert record["parameters"] == {"frames": f"shot.blend@1-{FRAMES}"}
    # The panel, drawn idle, while following, and once done:
    assert submitted["idle"][-1] == "operator witengine.render_on_farm"
    assert all(
        draw[-2:] == ["operator witengine.cancel", "operator witengine.open_dashboard"]
        for draw in found["draws"]
    )
    assert found["preview"] == [str(out / names[-1]), [WIDTH, HEIGHT]]  # the last frame back
    assert found["finished"][-7:] == [
        f"label {job_id}: completed, frames {FRAMES}/{FRAMES}",
        "picture",
        f"label Latest: {names[-1]}",
        "operator witengine.open_image",
        "operator witengine.add_to_sequencer",
        "operator witengine.render_on_farm",
        "operator witengine.open_dashboard",
    ]
    # Its buttons: the last frame in an image, the video in the sequencer, the job's page.
    assert (found["open_image"], found["sequencer"]) == ("", "")
    assert found["images"] == ["//textures/swatch.png", str(out / names[-1])]
    assert found["strips"] == [["MOVIE", str(out / "shot-sent.mp4")]]
    assert found["dashboard"] == f"{setup.farm.url}/jobs/{job_id}?token={setup.farm.token}"


def test_a_scene_with_a_missing_texture_is_refused_naming_the_file(setup: Setup) -> None:
    textures = setup.folder / "broken" / "textures"
    scene = make_sample_scene(
        setup.folder / "broken" / "broken.blend",
        frames=2,
        width=WIDTH,
        height=HEIGHT,
        samples=2,
        extra=("--missing-texture", str(textures / "brick.png")),
        blender=setup.blender,
    )
    jobs = len(setup.farm.api("GET", "/jobs").json())

    found, output = drive(setup, scene, do="submit", save=str(scene), seconds=30)

    assert found["job_id"] == ""
    assert (
        "Error: witengine: the scene uses files that are missing: "
        f"{textures}/brick.png (image 'missing')"
    ) in output
    assert len(setup.farm.api("GET", "/jobs").json()) == jobs  # nothing was submitted


def test_test_connection_shows_the_nodes_and_a_wrong_token_gets_the_hubs_401_message(
    setup: Setup,
) -> None:
    refused = setup.farm.api("GET", "/nodes", headers={"Authorization": "Bearer wit-wrong"})

    right, _ = drive(setup, setup.scene, do="connect", submit=False)
    wrong, output = drive(setup, setup.scene, do="connect", token="wit-wrong", seconds=20)

    assert right["connect"] == "" and right["nodes"].startswith("a: ")
    assert f", Blender {setup.version}" in right["nodes"]
    message = refused.json()["detail"]
    assert refused.status_code == 401
    assert wrong["connect"] == f"Error: witengine: {message}\n"
    assert f"Error: witengine: {message}" in output  # the submission, refused the same way
    assert wrong["job_id"] == ""


def test_frames_come_back_while_the_job_runs_and_cancel_cancels_it(setup: Setup) -> None:
    out = setup.folder / "arriving"
    many = {  # long: still running when its first frames are back
        "use_scene_range": False,
        "frame_start": 1,
        "frame_end": 200,
        "output_folder": str(out),
    }

    found, output = drive(setup, setup.scene, do="cancel", settings=many, frames=2)

    job_id = found["job_id"]
    # Turn by turn, the job as the add-on heard it and the frames in the folder then: frames
    # were there, under Blender's names, while the job was still running.
    running = [there for status, there in found["turns"] if status == "running" and there]
    assert running, found["turns"]
    assert set(running[-1]) <= {f"{n:04d}.png" for n in range(1, 201)}  # as Blender names them
    latest, size = found["arrived"]["preview"]
    assert Path(latest).parent == out and Path(latest).name in running[-1]
    assert size == [WIDTH, HEIGHT]  # the picture the panel shows is the frame's
    shown = found["arrived"]["draw"]  # the panel while following: progress, the last frame
    line = next(line for line in shown if f"{job_id}: running, frames " in line)
    assert line.split()[0] in ("label", "progress")  # a bar from Blender 4.0 on
    assert "picture" in shown and f"label Latest: {Path(latest).name}" in shown
    assert shown[-2:] == ["operator witengine.cancel", "operator witengine.open_dashboard"]
    if found["arrived"]["eta"] is not None:  # the hub's prediction, once it has one
        assert any(line.startswith("label Time left: about ") for line in shown), shown
    assert (found["submit"], found["cancel"]) == ("", "")
    assert found["status"] == "cancelled"
    assert f"Error: witengine: job {job_id} cancelled" in output
    assert setup.farm.api("GET", f"/jobs/{job_id}").json()["status"] == "cancelled"
    assert f"label {job_id}: cancelled, frames" in " ".join(found["finished"])


def test_an_https_hub_is_reached_with_its_pinned_fingerprint_and_refused_with_another(
    setup: Setup,
) -> None:
    (setup.folder / "tls").mkdir()
    tls = ProcessFarm(setup.folder / "tls", free_port(), tls=True)
    try:
        tls.start_hub()
        pin, other = tls.fingerprint or "", "sha256:" + "0" * 64
        base = {"hub": tls.url, "token": tls.token, "submit": False}
        pinned, _ = drive(setup, setup.scene, do="connect", pin=pin, **base)
        refused, _ = drive(setup, setup.scene, do="connect", pin=other, **base)
    finally:
        tls.stop()

    assert (pinned["connect"], pinned["nodes"]) == ("", "the farm has no nodes")
    assert refused["connect"] == (
        f"Error: witengine: the hub at {tls.url} presented a certificate with fingerprint {pin}, "
        f"not the pinned {other}: refused (if the hub's certificate was made anew, pin its new "
        "fingerprint in the preferences)\n"
    )


def test_find_on_the_lan_fills_in_the_hub_that_advertises_itself(setup: Setup) -> None:
    reason = multicast_on_loopback()
    if reason is not None:
        print(f"skipping: {reason}")
        pytest.skip(reason)

    found, _ = drive(setup, setup.scene, do="find", interface=LOOPBACK)
    pinned, _ = drive(setup, setup.scene, do="find", interface=LOOPBACK, pin="sha256:" + "0" * 64)

    assert found["find"] == ""
    urls = [line.rpartition(": ")[2] for line in found["found"]]
    assert setup.farm.url in urls  # other hubs on this machine may answer too
    assert found["hub_url"] == urls[0]
    # A pinned add-on takes only its hub's advert: this one names no certificate.
    assert pinned["find"].startswith(
        "Error: witengine: no hub with the pinned certificate answered on the local network"
    )
    assert (pinned["hub_url"], pinned["found"]) == ("", [])


def test_with_online_access_off_the_add_on_refuses_to_use_the_network_saying_why(
    setup: Setup,
) -> None:
    jobs = len(setup.farm.api("GET", "/jobs").json())

    found, _ = drive(setup, setup.scene, do="offline")

    message = (
        "Error: witengine: Blender's Allow Online Access is off (Preferences > System > "
        "Network): witengine talks to its hub over the network; allow it to use the farm\n"
    )
    assert found["connect"] == message
    assert found["find"] == message.replace("witengine: ", "witengine: cannot look for hubs: ")
    assert found["submit"] == message
    # 4.5: Blender's own setting, unticked; 3.4 has none, and its reading was replaced.
    assert found["online_access"] == (False if setup.version == "4.5" else None)
    assert len(setup.farm.api("GET", "/jobs").json()) == jobs


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_wit_addon_install_puts_the_add_on_in_the_users_blender_and_enables_it(
    flavour: str, tmp_path: Path
) -> None:
    blender = "blender" if flavour == "3.4" else str(bpy_blender(tmp_path))
    env = {
        **os.environ,
        "BLENDER_USER_SCRIPTS": str(tmp_path / "user" / "scripts"),
        "BLENDER_USER_CONFIG": str(tmp_path / "user" / "config"),
    }
    with pytest.MonkeyPatch.context() as patch:
        for name in ("BLENDER_USER_SCRIPTS", "BLENDER_USER_CONFIG"):
            patch.setenv(name, env[name])
        target = install(blender)

    assert target == tmp_path / "user" / "scripts" / "addons" / PACKAGE
    assert (target / "__init__.py").is_file() and (target / "blender_pack.py").is_file()
    # A Blender started afterwards, with the user's preferences, has it enabled.
    expression = "import bpy; print('WITADDONS=' + ','.join(bpy.context.preferences.addons.keys()))"
    done = subprocess.run(
        [blender, "-b", "--python-exit-code", "1", "--python-expr", expression],
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("WITADDONS="))
    assert PACKAGE in line.removeprefix("WITADDONS=").split(","), done.stdout + done.stderr
