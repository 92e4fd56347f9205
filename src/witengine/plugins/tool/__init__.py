"""The `tool` plugin: tool jobs, which run a program a node detected (Python, RenderMan's prman,
POV-Ray, or any tool nodes look for) with the job's files and arguments, and give back every
file it wrote, the end of what it printed and how it ended (`ToolResult`).

Each item runs in a fresh work folder holding copies of its input files under their names, with
its arguments passed as a list, never through a shell; a non-zero exit fails the item with the
last lines of the program's stderr. The hub gives each item to a node whose probe found the tool
(in the version asked): `Tool.Python`, `Tool.RenderMan` and `Tool.PovRay` declare theirs,
`Tool.Run` names it in its first argument. The programs run on nodes only (`Placement.NODE`):
never on the hub.

No activity here declares how two results are compared (`compare=`), so tool jobs run only on
trusted nodes: what a program writes is seldom the same bytes twice (dates, versions, threads),
the result names the tool's version as each node found it, and no one comparison fits every
program. A plugin for one program can declare its own.
"""

from __future__ import annotations

from witengine import __version__
from witengine.plugins.api import ActivityContext, Blob, Placement, Plugin, Requirements
from witengine.plugins.tool.program import find, requirement, run
from witengine.plugins.tool.result import ToolError, ToolResult

__all__ = ["ToolError", "ToolResult", "plugin"]

plugin = Plugin(
    "tool",
    version=__version__,
    summary="detected programs (Python, prman, POV-Ray …) run with the job's files",
)

plugin.type(
    "ToolResult",
    accepts=(),
    members={
        "Files": "BlobCollection",
        "Stdout": "String",
        "Stderr": "String",
        "ExitCode": "Int",
        "Tool": "String",
    },
)(ToolResult)


def _named(blob: Blob, fallback: str) -> Blob:
    """A file given without a name gets one, so that its program can be told where it is."""
    return blob if blob.name else Blob(blob.sha256, blob.size, fallback)


@plugin.activity("Tool.Python", requires=Requirements(software="python"), placement=Placement.NODE)
def python(
    context: ActivityContext,
    script: Blob,
    args: list[str] | None = None,
    inputs: list[Blob] | None = None,
) -> ToolResult:
    """Runs a Python script with its arguments on a node with Python; returns what it wrote.

    The script and the input files sit in the work folder under their names.
    """
    script = _named(script, "script.py")
    program = find(requirement("python"))
    return run(context, program, args or [], [script, *(inputs or [])], first=[script.name])


@plugin.activity(
    "Tool.RenderMan", requires=Requirements(software="prman"), placement=Placement.NODE
)
def renderman(
    context: ActivityContext,
    rib: Blob,
    args: list[str] | None = None,
    inputs: list[Blob] | None = None,
) -> ToolResult:
    """Renders a RIB file with RenderMan's prman on a node that has it; returns its images.

    `args` are prman's options, given before the file (`-progress`, `-t:4`).
    """
    rib = _named(rib, "scene.rib")
    program = find(requirement("prman"))
    return run(context, program, [*(args or []), rib.name], [rib, *(inputs or [])])


@plugin.activity("Tool.PovRay", requires=Requirements(software="povray"), placement=Placement.NODE)
def povray(
    context: ActivityContext,
    scene: Blob,
    args: list[str] | None = None,
    inputs: list[Blob] | None = None,
) -> ToolResult:
    """Renders a POV-Ray scene on a node with POV-Ray, without a display; returns its images.

    `args` are POV-Ray's options, given after the scene (`+W640`, `+H480`, `+FN`).
    """
    scene = _named(scene, "scene.pov")
    program = find(requirement("povray"))
    return run(context, program, args or [], [scene, *(inputs or [])], first=[scene.name, "-D"])


@plugin.activity(
    "Tool.Run",
    requires=lambda tool, args, inputs=None: Requirements(software=tool),
    placement=Placement.NODE,
)
def run_tool(
    context: ActivityContext, tool: str, args: list[str], inputs: list[Blob] | None = None
) -> ToolResult:
    """Runs a tool nodes look for ("ffmpeg", "python>=3.11" …) on a node that has it.

    The input files sit in the work folder under their names, so arguments name them so.
    """
    program = find(requirement(tool))
    return run(context, program, args, inputs or [])


_PYTHON_FILE = """\
Job:PythonFile(Blob:script)
{
    ~ A Python script dropped into a watched folder: run on a node that has Python ~
    ToolResult:run = Grid.Delegate => Tool.Python(script);
    BlobCollection:files = run.Files;
    String:stdout = run.Stdout;
    String:stderr = run.Stderr;
}
"""

_RIB_FILE = """\
Job:RibFile(Blob:rib)
{
    ~ A RIB file dropped into a watched folder: rendered by prman on a node that has RenderMan ~
    ToolResult:run = Grid.Delegate => Tool.RenderMan(rib);
    BlobCollection:files = run.Files;
    String:stdout = run.Stdout;
    String:stderr = run.Stderr;
}
"""

_OUTPUTS = {"stdout.txt": "stdout", "stderr.txt": "stderr"}

plugin.job_file(
    ".py", script=_PYTHON_FILE, parameters=lambda path: {"script": path}, texts=_OUTPUTS
)
plugin.job_file(".rib", script=_RIB_FILE, parameters=lambda path: {"rib": path}, texts=_OUTPUTS)
