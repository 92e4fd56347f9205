"""What job a job file makes: `NAME.wit` runs itself with `NAME.params`; other extensions run
the job their plugin declared (`Plugin.job_file`: `.py` with Python, `.rib` with prman, `.blend`
rendered as `examples/render_animation.wit` renders).

It reads the job file and its .params (the watcher's caller has claimed them), nothing else;
what a job needs of a node comes from the activities its script calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any

from witengine.errors import ParameterError, WitError
from witengine.folders.intake import extension_of, params_name, parse_params
from witengine.lang import syntax as s
from witengine.lang.checker import CheckedJob, check_source
from witengine.lang.types import Placement
from witengine.plugins.api import JobFile, Plugin
from witengine.runtime.library import Library
from witengine.runtime.parameters import split_assignments

WIT = ".wit"


@dataclass(frozen=True)
class FileJob:
    """The job a file runs: its script, its text parameters (as `wit run` takes them), and the
    String variables to write beside its results as text files."""

    source: str
    filename: str
    parameters: dict[str, str]
    texts: Mapping[str, str] = field(default_factory=dict)


def declared_rules(plugins: Iterable[Plugin]) -> dict[str, JobFile]:
    """Every plugin's job files by extension; the first plugin to declare one keeps it."""
    rules: dict[str, JobFile] = {}
    for plugin in plugins:
        for rule in plugin.job_files:
            rules.setdefault(rule.extension, rule)
    return rules


def extensions(rules: Mapping[str, JobFile]) -> frozenset[str]:
    return frozenset({WIT, *rules})


def job_for(path: Path, rules: Mapping[str, JobFile]) -> FileJob:
    """The job the file at `path` runs; WitError (ParameterError, ScriptError on checking
    later) says what is wrong with it."""
    extension = extension_of(path.name)
    if extension == WIT:
        try:
            source = path.read_text("utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise WitError(f"{path.name}: cannot read it: {error}") from None
        return FileJob(source, path.name, read_params(path.with_name(params_name(path.name))))
    rule = rules.get(extension)
    if rule is None:
        raise WitError(f"{path.name}: no plugin runs {extension} files")
    try:
        parameters = dict(rule.parameters(str(path)))
    except (WitError, ValueError, OSError) as error:
        raise ParameterError(str(error)) from None
    return FileJob(rule.script, f"{path.stem}{WIT}", parameters, rule.texts)


def read_params(path: Path) -> dict[str, str]:
    """The parameters of a NAME.params file (none when there is no such file), read as
    `wit run` reads its `name=value` arguments."""
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as error:
        raise ParameterError(f"{path.name}: cannot read it: {error}") from None
    try:
        return split_assignments(parse_params(text))
    except ParameterError as error:
        raise ParameterError(f"{path.name}: {error}") from None


def check_job(job: FileJob, library: Library) -> CheckedJob:
    """The job's script, checked; ScriptError names the line of each problem."""
    return check_source(job.source, library, job.filename)


def needs(checked: CheckedJob, library: Library) -> tuple[str, ...]:
    """The programs a node must have to run the job's work: those the activities it sends to
    nodes (in `Grid.*` arrows, or placed on nodes) declare, in the order first met. Needs that
    depend on an item's arguments (`Tool.Run`'s tool) are the hub's to find when the job runs."""
    found: list[str] = []
    for name, on_node in _calls(checked.job, False):
        activity = library.activities.get(name)
        if activity is None or activity.requirements is None:
            continue
        if on_node or activity.spec.placement is Placement.NODE:
            found += [str(p) for p in activity.requirements.software if str(p) not in found]
    return tuple(found)


def _calls(node: Any, in_arrow: bool) -> Iterator[tuple[str, bool]]:
    """Every activity call in a tree, and whether it is the right side of an arrow."""
    if isinstance(node, s.Arrow):
        if isinstance(node.body, s.Call):
            yield node.body.name, True
            for arg in node.body.args:
                yield from _calls(arg, in_arrow)
        for arg in node.head_args or ():
            yield from _calls(arg, in_arrow)
        return
    if isinstance(node, s.Call):
        yield node.name, in_arrow
    if isinstance(node, tuple | list):
        for item in node:
            yield from _calls(item, in_arrow)
    elif is_dataclass(node) and not isinstance(node, type):
        for item in fields(node):
            if item.name not in ("span", "name_span", "head_span"):
                yield from _calls(getattr(node, item.name), in_arrow)
