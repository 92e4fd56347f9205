"""Running a detected program for a tool job, on this machine: found as the node's probe finds it
(the same `Tool`, the same PATH, tools hidden from the node hidden here too), checked against the
version range asked, started in a fresh work folder holding copies of its input files, with its
arguments as a list (never through a shell), and its output files, stdout, stderr and exit code
collected into a `ToolResult`.

The program runs in the batch process's process group, so a cancelled batch (or a lease given up
on) kills it with the batch; it also gets SIGTERM if the batch process dies outright.
"""

from __future__ import annotations

import functools
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from witengine.errors import PluginError
from witengine.filenames import UnsafePath, check_file_name
from witengine.lifetime import die_with_parent
from witengine.plugins.detection import KNOWN_TOOLS, Tool, hidden_tools, tools_to_look_for
from witengine.plugins.programs import locate, stamp, version_output
from witengine.plugins.requirements import Software, leading_version
from witengine.plugins.tool.result import ToolError, ToolResult, failure, returned_name, tail
from witengine.runtime.blobs import Blob
from witengine.runtime.context import ActivityContext

# Variables of the node a program is not given: the node's credentials and settings are the
# node's business, not the job's.
_PRIVATE_PREFIX = "WIT_"
Stat = tuple[int, int]  # a file's size and modification time, in nanoseconds


@dataclass(frozen=True)
class Program:
    """A tool found on this machine: where its file is and the version it reports."""

    tool: str
    path: str
    version: str

    def __str__(self) -> str:
        return f"{self.tool} {self.version}"


def requirement(text: str) -> Software:
    """A tool as `Tool.Run` names it (`python`, `python>=3.11`); ToolError when unreadable."""
    try:
        return Software.parse(text)
    except PluginError as error:
        raise ToolError(
            f"'{text}' does not name a tool: write its name, with a version range if need be, "
            f"like 'python>=3.11' or 'prman' ({error})"
        ) from None


def find(wanted: Software, environment: Mapping[str, str] = os.environ) -> Program:
    """The tool on this machine, in a version the range accepts; ToolError saying what is
    missing otherwise (an unknown tool, a tool this node does not have, another version)."""
    tool = _known(wanted.name)
    if tool.name in hidden_tools(environment):
        raise ToolError(f"this node has no {tool.name} (it is hidden from it)")
    program = _located(tool)
    if program is None:
        raise ToolError(f"this node has no {tool.name} on its PATH")
    if wanted.versions:
        version = leading_version(program.version)
        if version is None or not wanted.versions.contains(version, prereleases=True):
            raise ToolError(f"this node has {program}, not {wanted}")
    return program


def _known(name: str) -> Tool:
    for tool in KNOWN_TOOLS:
        if tool.name == name:
            return tool
    from witengine.plugins.registry import discover  # only for a tool a plugin declares

    declared = tools_to_look_for(tool for plugin in discover() for tool in plugin.tools)
    for tool in declared:
        if tool.name == name:
            return tool
    names = ", ".join(sorted(tool.name for tool in declared))
    raise ToolError(f"'{name}' is not a tool nodes look for (they look for {names})")


def _located(tool: Tool) -> Program | None:
    located = locate(tool)
    if located is None:
        if tool.name != "python":
            return None
        return Program("python", sys.executable, platform.python_version())  # as the probe does
    path = located[1]
    return _asked(tool, path, stamp(path) or path)


@functools.lru_cache(maxsize=64)
def _asked(tool: Tool, path: str, built: str) -> Program | None:
    """The tool's version from its program file, asked once per build in a batch process (a
    batch of a hundred items asks Blender once, not a hundred times)."""
    version = tool.read_version(version_output([path, *tool.version], tool.timeout))
    return None if version is None else Program(tool.name, path, version)


def run(
    context: ActivityContext,
    program: Program,
    arguments: Sequence[str],
    inputs: Sequence[Blob],
    first: Sequence[str] = (),
) -> ToolResult:
    """Run the program with `first` then `arguments` in a fresh work folder holding copies of
    `inputs` under their names; every file it wrote there comes back as a blob. A non-zero exit
    is a ToolError quoting the end of its stderr."""
    with tempfile.TemporaryDirectory(prefix="tool-", dir=context.work_dir) as scratch:
        folder = Path(scratch) / "work"  # what the program sees; its output is kept beside it
        folder.mkdir()
        before = _place(context, folder, inputs)
        command = [program.path, *first, *arguments]
        stdout_file, stderr_file = Path(scratch) / "stdout", Path(scratch) / "stderr"
        with stdout_file.open("wb") as out, stderr_file.open("wb") as err:
            try:
                done = subprocess.run(
                    command,
                    cwd=folder,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    env=_environment(os.environ, context),
                    check=False,
                    preexec_fn=die_with_parent,
                )
            except OSError as error:
                raise ToolError(f"{program} could not start: {error.strerror or error}") from None
        stdout, stderr = stdout_file.read_bytes(), stderr_file.read_bytes()
        if done.returncode != 0:
            raise ToolError(failure(str(program), done.returncode, stderr))
        files = [
            context.save_file(path, returned_name(relative))
            for relative, path in _written(folder, before)
        ]
    return ToolResult(files, tail(stdout), tail(stderr), done.returncode, str(program))


def _place(context: ActivityContext, folder: Path, inputs: Sequence[Blob]) -> dict[str, Stat]:
    """Copy each input into the folder under its name (a copy: a program that changes its input
    must not change the node's cache); what each looked like, to tell outputs from inputs."""
    placed: dict[str, Stat] = {}
    for number, blob in enumerate(inputs, start=1):
        name = blob.name or f"input-{number}"
        try:
            check_file_name(name)
        except UnsafePath as error:
            raise ToolError(
                f"input {number} cannot be placed in the work folder: {error}"
            ) from None
        if name in placed:
            raise ToolError(f"two input files are named '{name}': give each its own name")
        target = folder / name
        shutil.copyfile(context.file(blob), target)
        status = target.stat()
        placed[name] = (status.st_size, status.st_mtime_ns)
    return placed


def _written(folder: Path, before: Mapping[str, Stat]) -> list[tuple[PurePosixPath, Path]]:
    """Every regular file in the folder that is new or changed since the inputs were placed,
    in path order; links are not followed (a link out of the folder returns nothing)."""
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        relative = PurePosixPath(path.relative_to(folder).as_posix())
        status = path.stat()
        if before.get(relative.as_posix()) != (status.st_size, status.st_mtime_ns):
            found.append((relative, path))
    return found


def _environment(environment: Mapping[str, str], context: ActivityContext) -> dict[str, str]:
    """The node's environment without its own settings and credentials; the threads a batch may
    use, for programs that read the usual variables."""
    kept = {k: v for k, v in environment.items() if not k.startswith(_PRIVATE_PREFIX)}
    if context.threads:
        kept["OMP_NUM_THREADS"] = str(context.threads)
    return kept
