"""The programs nodes look for, and how a program's version is read from what it prints.

A `Tool` names a program as requirements name it (`prman`), the files to look for on the PATH,
the arguments that make it print its version and a pattern that finds the version in that
output. Nodes look for `KNOWN_TOOLS` and for every tool an installed plugin declares
(`Plugin.tool`); what they find is their `Capabilities.software`, which requirements are matched
against. Pure: no PATH is searched and nothing runs here (the node's probe and the tool plugin
do that).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from witengine.errors import PluginError

# What requirements call a program: `blender`, `prman`, `houdini-hython`.
_TOOL_NAME = re.compile(r"[a-z0-9][a-z0-9._-]*")
# For tests: a node whose environment names tools here reports none of them, as if they were
# absent (a comma-separated list: `WIT_HIDE_TOOLS=python,blender`).
HIDE_VARIABLE = "WIT_HIDE_TOOLS"


@dataclass(frozen=True)
class Tool:
    """A program nodes look for: its name as requirements write it, the arguments that make it
    print its version, and a regular expression whose first group is the version in what it
    prints (stdout, then stderr, searched line by line: `^` is a line's start).

    `executables` are the files looked for on the PATH, the first found wins (by default the
    name itself); `timeout` is how long its version may take, in seconds.
    """

    name: str
    version: tuple[str, ...]
    pattern: str
    executables: tuple[str, ...] = ()
    timeout: float = 10.0
    _compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"tool '{self.name}'"
        if not _TOOL_NAME.fullmatch(self.name):
            raise PluginError(
                f"{where}: a tool's name is lowercase letters, digits, '.', '_' and '-', "
                "as requirements write it ('prman', 'povray')"
            )
        for executable in self.executables:
            if not executable or "/" in executable or "\\" in executable:
                raise PluginError(f"{where}: '{executable}' is not a program name on the PATH")
        try:
            compiled = re.compile(self.pattern, re.MULTILINE)
        except re.error as error:
            raise PluginError(f"{where}: its version pattern does not compile: {error}") from None
        if compiled.groups < 1:
            raise PluginError(f"{where}: its version pattern needs a group: r'Name (\\S+)'")
        if self.timeout <= 0:
            raise PluginError(f"{where}: its timeout must be above 0 seconds")
        object.__setattr__(self, "_compiled", compiled)
        if not self.executables:
            object.__setattr__(self, "executables", (self.name,))

    def read_version(self, output: str | None) -> str | None:
        """The version in what the version command printed; None when it says none."""
        found = self._compiled.search(output or "")
        version = found.group(1).strip() if found else ""
        return version or None


_VERSION = r"\d+(?:\.\d+)*[\w.+-]*"  # 3.11.7, 3.13.0rc2, 24.4, 3.8.0-beta.2.unofficial
KNOWN_TOOLS: tuple[Tool, ...] = (
    Tool("python", ("--version",), rf"^Python ({_VERSION})", executables=("python3", "python")),
    Tool("blender", ("--version",), rf"^Blender ({_VERSION})", timeout=30.0),
    Tool("ffmpeg", ("-version",), r"^ffmpeg version (\S+)"),
    Tool("prman", ("-version",), rf"(?:RenderMan|^prman)\s+({_VERSION})", timeout=30.0),
    Tool("povray", ("--version",), rf"^POV-Ray\s+v?({_VERSION})"),
)


def tools_to_look_for(declared: Iterable[Tool]) -> tuple[Tool, ...]:
    """The known tools and those plugins declare, each name once (the first declaration)."""
    found: dict[str, Tool] = {}
    for tool in (*KNOWN_TOOLS, *declared):
        found.setdefault(tool.name, tool)
    return tuple(found.values())


def tool_named(name: str, tools: Sequence[Tool] = KNOWN_TOOLS) -> Tool | None:
    return next((tool for tool in tools if tool.name == name), None)


def hidden_tools(environment: Mapping[str, str]) -> frozenset[str]:
    """The tools a node's environment says to report as absent (`WIT_HIDE_TOOLS`, for tests)."""
    text = environment.get(HIDE_VARIABLE, "")
    return frozenset(name.strip().lower() for name in text.split(",") if name.strip())
