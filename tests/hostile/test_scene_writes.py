"""Hostile input (issue 15): a job writes no file outside its run folder, on a node.

A scene's compositor File Output nodes write images wherever their paths say, as each frame
renders: an absolute path (`/home/someone/.bashrc`-like places) or one that climbs out of the
scene's folder (`//../x`) would let a job write on the node's disk. The hub refuses such a
scene at submit, a node refuses it before Blender starts and Blender refuses it again before
any frame, and nothing is written there; a File Output node that writes inside the run folder
still renders. Real hub and node processes, real Blender; skipped without Blender.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from witengine.plugins.render import blender as node_render
from witengine.plugins.render import render_frame
from witengine.plugins.render.blender import _WARM
from witengine.plugins.render.errors import RenderError, RenderFailure
from witengine.plugins.render.types import Frame, Image, Scene
from witengine.runtime.context import ActivityContext
from witengine.testing.processes import ProcessFarm

from .test_scene_files import node_context, scene, submit

pytestmark = [
    pytest.mark.blender,
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("blender") is None, reason="Blender is not installed"),
]


@dataclass
class Scenes:
    elsewhere: Path  # a folder of the machine's, outside any job
    absolute: Path  # a File Output node writing to `elsewhere` by its absolute path
    climbing: Path  # one in a node group writing to //../x
    inside: Path  # one writing to //passes/, in the run folder


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Scenes:
    folder = tmp_path_factory.mktemp("writing-scenes")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    return Scenes(
        elsewhere=elsewhere,
        absolute=scene(folder / "absolute.blend", "--file-output", f"{elsewhere}/"),
        climbing=scene(
            folder / "climbing.blend", "--file-output", "//../x", "--file-output-in-group"
        ),
        inside=scene(folder / "inside.blend", "--file-output", "//passes/"),
    )


@pytest.fixture(autouse=True)
def no_blender_left() -> Iterator[None]:
    yield
    _WARM.close()


def render(context: ActivityContext, path: Path) -> Image | RenderError:
    """Frame 1 rendered as a node's batch process does, past any hub: its image or its error."""
    try:
        return render_frame(context, Frame(Scene.from_value(context.blobs.put_file(path)), 1))
    except RenderError as error:
        return error
    finally:
        _WARM.close()  # Blender has ended: whatever it wrote is there


def files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_a_file_output_node_writing_to_an_absolute_path_fails_the_item_and_writes_nothing(
    scenes: Scenes, tmp_path: Path
) -> None:
    error = render(node_context(tmp_path), scenes.absolute)

    assert isinstance(error, RenderError), "the scene rendered"
    assert error.failure is RenderFailure.OUTSIDE_FILES
    assert error.message.startswith(
        "the scene absolute.blend writes files outside itself, which a node never allows: "
        f"{scenes.elsewhere}/image (file output 'passes' in scene 'Scene');"
    )
    assert files(scenes.elsewhere) == []


def test_a_file_output_node_in_a_group_climbing_out_of_the_folder_fails_and_writes_nothing(
    scenes: Scenes, tmp_path: Path
) -> None:
    context = node_context(tmp_path)

    error = render(context, scenes.climbing)

    assert isinstance(error, RenderError), "the scene rendered"
    assert error.failure is RenderFailure.OUTSIDE_FILES
    assert "//../x/image (file output 'passes' in node group 'outputs')" in error.message
    # //../x leads from the run folder into the node's shared work folder.
    assert not (context.work_dir / "x").exists()


@pytest.mark.parametrize("name", ["absolute", "climbing"])
def test_blender_itself_refuses_a_file_output_outside_when_the_nodes_first_check_is_skipped(
    scenes: Scenes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setattr(node_render, "check_scene", lambda *_, **__: None)
    context = node_context(tmp_path)

    error = render(context, getattr(scenes, name))

    assert isinstance(error, RenderError), "the scene rendered"
    assert error.failure is RenderFailure.OUTSIDE_FILES
    assert f"the scene {name}.blend writes files outside itself" in error.message
    assert "(file output 'passes' in " in error.message
    assert files(scenes.elsewhere) == []
    assert not (context.work_dir / "x").exists()


def test_the_hub_refuses_a_scene_whose_file_output_writes_outside_it_at_submit(
    farm: ProcessFarm, scenes: Scenes
) -> None:
    jobs = len(farm.api("GET", "/jobs").json())

    absolute = submit(farm, scenes.absolute)
    climbing = submit(farm, scenes.climbing)

    assert absolute.status_code == climbing.status_code == 400, absolute.text
    assert absolute.json()["detail"].startswith(
        "parameter 'frames' (FrameCollection): the scene absolute.blend writes files outside "
        f"itself, which a node never allows: {scenes.elsewhere}/image (file output 'passes' "
        "in scene 'Scene');"
    )
    assert (
        "//../x/image (file output 'passes' in node group 'outputs')" in (climbing.json()["detail"])
    )
    assert len(farm.api("GET", "/jobs").json()) == jobs  # nothing was started


def test_a_file_output_node_writing_inside_the_run_folder_still_renders(
    farm: ProcessFarm, scenes: Scenes, tmp_path: Path
) -> None:
    image = render(node_context(tmp_path), scenes.inside)
    response = submit(farm, scenes.inside)

    assert isinstance(image, Image), image
    assert (image.frame, image.width, image.height) == (1, 32, 18)
    assert response.status_code in (200, 201), response.text
