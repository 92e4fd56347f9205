"""Tool jobs with real programs: a real Python runs real scripts in a fresh work folder, with
arguments that reach it untouched and files that come back as blobs; a failing program fails
its item with the end of its stderr; a tool the machine lacks, hides or has in another version
is refused; and a tool's process dies with its batch process when a node cancels the batch."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
from pathlib import Path

import psutil
import pytest

from witengine.errors import ActivityError
from witengine.node.runner import Runner
from witengine.plugins.registry import build_library
from witengine.plugins.render.images import png_facts
from witengine.plugins.tool import ToolResult, plugin
from witengine.protocol import Assign, TaskSpec
from witengine.runtime.blobs import Blob, LocalBlobStore
from witengine.runtime.invoke import ActivityContext, invoke_json, requirements_json
from witengine.runtime.library import Library

pytestmark = pytest.mark.timeout(60)

SHELL_WORDS = [
    "two words",
    "; rm -rf x",
    "$(touch pwned)",
    "`touch pwned`",
    "'single' \"double\"",
    "*",
    "a\\b",
    "$HOME",
    "|| exit 3",
    "ünïcødé",
    "",
]


@pytest.fixture
def library() -> Library:
    return build_library([plugin])


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


@pytest.fixture
def context(store: LocalBlobStore, tmp_path: Path) -> ActivityContext:
    work = tmp_path / "work"
    work.mkdir()
    return ActivityContext(store, work)


def script(store: LocalBlobStore, text: str, name: str = "job.py") -> Blob:
    return store.put_bytes(text.encode(), name)


def call(library: Library, context: ActivityContext, activity: str, *args: object) -> ToolResult:
    """Through the library, with JSON in and out, as a node calls it."""
    data = invoke_json(library, activity, list(args), context)
    return ToolResult.from_json(data)


def encoded(blob: Blob) -> dict[str, object]:
    return {"sha256": blob.sha256, "size": blob.size, "name": blob.name}


def test_a_python_script_writes_a_file_that_comes_back_with_its_output(
    library: Library, context: ActivityContext, store: LocalBlobStore
) -> None:
    job = script(
        store,
        "import pathlib, sys\n"
        "pathlib.Path('frames').mkdir()\n"
        "pathlib.Path('frames/f1.txt').write_text('frame ' + sys.argv[1])\n"
        "pathlib.Path('summary.json').write_text('{\"ok\": true}')\n"
        "print('made 2 files')\n"
        "print('a warning', file=sys.stderr)\n",
    )
    result = call(library, context, "Tool.Python", encoded(job), ["7"])
    assert result.stdout == "made 2 files\n" and result.stderr == "a warning\n"
    assert result.exit_code == 0
    assert result.tool.startswith("python 3.")
    assert [f.name for f in result.files] == ["frames-f1.txt", "summary.json"]
    assert store.path(result.files[0]).read_text() == "frame 7"
    assert store.path(result.files[1]).read_text() == '{"ok": true}'
    assert list(context.work_dir.iterdir()) == [], "the work folder is removed after the run"


def test_arguments_with_spaces_and_shell_characters_reach_the_program_untouched(
    library: Library, context: ActivityContext, store: LocalBlobStore
) -> None:
    job = script(
        store,
        "import json, os, sys\n"
        "open('argv.json', 'w').write(json.dumps(sys.argv[1:]))\n"
        "open('listing.json', 'w').write(json.dumps(sorted(os.listdir('.'))))\n",
    )
    result = call(library, context, "Tool.Python", encoded(job), SHELL_WORDS)
    files = {f.name: json.loads(store.path(f).read_text()) for f in result.files}
    assert files["argv.json"] == SHELL_WORDS
    assert files["listing.json"] == ["argv.json", "job.py", "listing.json"], "a shell ran"
    run_args = ["-c", "import json, sys; print(json.dumps(sys.argv[1:]))", *SHELL_WORDS]
    ran = call(library, context, "Tool.Run", "python", run_args, [])
    assert json.loads(ran.stdout) == SHELL_WORDS


def test_input_files_sit_in_the_work_folder_by_name_and_only_changed_ones_come_back(
    library: Library, context: ActivityContext, store: LocalBlobStore
) -> None:
    kept = store.put_bytes(b"left alone\n", "kept.txt")
    changed = store.put_bytes(b"before\n", "changed.txt")
    job = script(
        store,
        "import pathlib\n"
        "assert pathlib.Path('kept.txt').read_text() == 'left alone\\n'\n"
        "pathlib.Path('changed.txt').write_text('after\\n')\n",
        name="edit.py",
    )
    result = call(
        library,
        context,
        "Tool.Run",
        "python>=3",
        ["edit.py"],
        [encoded(job), encoded(kept), encoded(changed)],
    )
    assert [f.name for f in result.files] == ["changed.txt"]
    assert store.path(result.files[0]).read_text() == "after\n"
    assert store.path(changed).read_text() == "before\n", "the program changed the node's cache"


def test_a_failing_program_fails_its_item_with_the_last_lines_of_its_stderr(
    library: Library, context: ActivityContext, store: LocalBlobStore
) -> None:
    job = script(
        store,
        "import sys\n"
        "for i in range(30): print(f'step {i}', file=sys.stderr)\n"
        "raise SystemExit('cannot open scene.abc')\n",
    )
    with pytest.raises(ActivityError) as raised:
        call(library, context, "Tool.Python", encoded(job), [])
    message = str(raised.value)
    assert message.startswith("Tool.Python: python 3.")
    assert " exited with code 1:\n" in message
    assert message.endswith("step 28\nstep 29\ncannot open scene.abc")
    assert "step 20" not in message, "only the last lines are quoted"


def test_long_output_is_kept_to_its_end_and_says_so(
    library: Library, context: ActivityContext, store: LocalBlobStore
) -> None:
    job = script(store, "for i in range(20000): print(f'line {i:05d}')\n")
    result = call(library, context, "Tool.Python", encoded(job), [])
    note, _, rest = result.stdout.partition("\n")
    assert note.startswith("[the first ") and note.endswith(" bytes of 220000 are left out]")
    assert rest.endswith("line 19999\n") and len(rest) <= 64 * 1024


@pytest.mark.parametrize(
    ("tool", "message"),
    [
        ("rm", r"'rm' is not a tool nodes look for \(they look for blender, ffmpeg,"),
        ("python>=99", r"this node has python 3\.\S+, not python>=99"),
        ("python; rm -rf /", r"'python; rm -rf /' does not name a tool"),
        ("prman", r"this node has no prman on its PATH"),
    ],
)
def test_a_tool_this_node_did_not_detect_is_refused_with_what_is_wrong(
    library: Library, context: ActivityContext, tool: str, message: str
) -> None:
    if tool == "prman" and any(
        (Path(d) / "prman").exists() for d in os.environ.get("PATH", "").split(os.pathsep)
    ):
        pytest.skip("this machine has prman")
    with pytest.raises(ActivityError, match=rf"^Tool.Run: {message}"):
        call(library, context, "Tool.Run", tool, ["--version"], [])


def test_a_tool_hidden_from_the_node_is_refused_as_absent(
    library: Library, context: ActivityContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WIT_HIDE_TOOLS", "python")
    with pytest.raises(ActivityError, match=r"^Tool.Run: this node has no python \(it is hidden"):
        call(library, context, "Tool.Run", "python", ["--version"], [])


BALL = b"""\
camera { location <0, 1, -3> look_at <0, 0, 0> }
light_source { <2, 4, -3> color rgb 1 }
sphere { <0, 0, 0>, 1 pigment { color rgb <1, 0.3, 0.2> } }
"""


@pytest.mark.skipif(shutil.which("povray") is None, reason="POV-Ray is not installed here")
def test_pov_ray_renders_a_scene_into_an_image_that_comes_back(
    library: Library, context: ActivityContext, store: LocalBlobStore
) -> None:
    scene = store.put_bytes(BALL, "ball.pov")
    result = call(library, context, "Tool.PovRay", encoded(scene), ["+W32", "+H24", "+FN"])
    assert result.tool.startswith("povray 3.")
    (image,) = result.files
    assert image.name == "ball.png"
    facts = png_facts(store.path(image).read_bytes())
    assert (facts.width, facts.height) == (32, 24)
    assert "POV-Ray finished" in result.stderr


def test_the_tool_an_item_names_is_what_the_hub_routes_it_by(library: Library) -> None:
    needs = requirements_json(library, "Tool.Run", ["python>=3.11", [], []])
    assert [str(s) for s in needs.software] == ["python>=3.11"]
    assert requirements_json(library, "Tool.Python", [encoded(Blob("ab" * 32, 1, "a.py"))]) is None
    statics = {name: library.activities[name].requirements for name in library.activities}
    assert [str(s) for s in statics["Tool.Python"].software] == ["python"]
    assert [str(s) for s in statics["Tool.RenderMan"].software] == ["prman"]
    assert [str(s) for s in statics["Tool.PovRay"].software] == ["povray"]
    assert statics["Tool.Run"] is None


async def test_a_cancelled_batch_takes_its_tool_process_with_it(tmp_path: Path) -> None:
    """The node cancels a batch by killing its batch process's group: the program a tool job
    started is in it, and goes too."""
    blobs = tmp_path / "blobs"
    store = LocalBlobStore(blobs)
    marker = tmp_path / "tool.pid"
    job = script(
        store,
        "import os, sys, time\n"
        "open(sys.argv[1], 'w').write(f'{os.getpid()} {os.getpgrp()}')\n"
        "time.sleep(60)\n",
    )
    slot = Runner(["witengine.plugins.tool:plugin"], blobs)
    assign = Assign(
        batch_id="b1",
        job_id="job_1",
        activity="Tool.Python",
        tasks=[TaskSpec("m", 0, 1, [encoded(job), [str(marker)]])],
        lease_seconds=30,
    )
    results = slot.run(assign)
    waiting = asyncio.ensure_future(anext(results))
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() or not marker.read_text():
            assert time.monotonic() < deadline, "the tool did not start"
            await asyncio.sleep(0.05)
        pid, group = (int(word) for word in marker.read_text().split())
        assert slot.process is not None and group == os.getpgid(slot.process.pid)
        assert psutil.pid_exists(pid)
    finally:
        await slot.kill()
        waiting.cancel()
    deadline = time.monotonic() + 10
    while _alive(pid):
        assert time.monotonic() < deadline, "the tool outlived its cancelled batch"
        await asyncio.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
