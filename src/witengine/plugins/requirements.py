"""What an activity needs of a machine, and what a machine lacks of it, in words.

`Requirements` is declared by plugin authors (see `Plugin.activity(requires=…)`) and checked when
the plugin loads, so a mistyped version range fails early. `unmet` compares it with a node's
probed `Capabilities` and says what is missing, one sentence per need, as a user would fix it:
"needs blender>=3.0; this node has 2.93". Pure: no probing, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from witengine.errors import PluginError

if TYPE_CHECKING:
    # Only its shape: a batch process, which checks no capabilities, need not load the wire
    # models (a tenth of a second at every start).
    from witengine.protocol import Capabilities

GIB = 1024**3
# The names `platform.machine()` gives one architecture on different systems.
_ARCH_ALIASES = {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64", "arm64e": "arm64"}
_LEADING_VERSION = re.compile(r"\d+(?:\.\d+)*")


@dataclass(frozen=True)
class Software:
    """One program a node must have, with an optional version range: `blender>=3.0`."""

    name: str
    versions: SpecifierSet = field(default_factory=SpecifierSet)
    written: str = ""  # as the author wrote it, for messages

    @classmethod
    def parse(cls, text: str) -> Software:
        try:
            parsed = Requirement(text)
        except InvalidRequirement as error:
            raise PluginError(
                f"cannot read the software requirement '{text}': {error} "
                "(write it like 'blender>=3.0' or 'ffmpeg')"
            ) from None
        if parsed.extras or parsed.marker is not None or parsed.url:
            raise PluginError(
                f"the software requirement '{text}' may only name a program and a version range"
            )
        return cls(parsed.name.lower(), parsed.specifier, "".join(text.split()))

    def __str__(self) -> str:
        return self.written or f"{self.name}{self.versions}"


@dataclass(frozen=True, init=False)
class Requirements:
    """What a machine must be and have to run an activity; empty means any machine.

    `os` and `arch` list acceptable values as `platform.system()` and `platform.machine()` name
    them (Linux, Darwin, Windows; x86_64, arm64); `software` lists programs with optional version
    ranges (`"blender>=3.0,<5"`); `gpu` is True for any GPU or a vendor name (`"nvidia"`).
    """

    os: tuple[str, ...]
    arch: tuple[str, ...]
    software: tuple[Software, ...]
    min_ram_gib: float
    gpu: bool | str

    def __init__(
        self,
        *,
        os: str | Sequence[str] = (),
        arch: str | Sequence[str] = (),
        software: str | Sequence[str] = (),
        min_ram_gib: float = 0.0,
        gpu: bool | str = False,
    ) -> None:
        if min_ram_gib < 0:
            raise PluginError(f"min_ram_gib must not be negative, got {min_ram_gib}")
        object.__setattr__(self, "os", _names(os))
        object.__setattr__(self, "arch", _names(arch))
        object.__setattr__(self, "software", tuple(Software.parse(s) for s in _names(software)))
        object.__setattr__(self, "min_ram_gib", float(min_ram_gib))
        object.__setattr__(self, "gpu", gpu.lower() if isinstance(gpu, str) else bool(gpu))

    def __bool__(self) -> bool:
        return bool(self.os or self.arch or self.software or self.min_ram_gib or self.gpu)

    def describe(self) -> list[str]:
        """Each need in words, for listings: `blender>=3.0`, `8 GiB of RAM` …"""
        needs = [" or ".join(self.os)] if self.os else []
        needs += [" or ".join(self.arch)] if self.arch else []
        needs += [str(s) for s in self.software]
        needs += [f"{self.min_ram_gib:g} GiB of RAM"] if self.min_ram_gib else []
        needs += [_gpu_words(self.gpu)] if self.gpu else []
        return needs


def _names(value: str | Sequence[str]) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else tuple(value)
    return tuple(item.strip() for item in items if item.strip())


def _gpu_words(gpu: bool | str) -> str:
    return "a GPU" if gpu is True else f"an {gpu} GPU"


def _arch(name: str) -> str:
    lowered = name.lower()
    return _ARCH_ALIASES.get(lowered, lowered)


def leading_version(text: str) -> Version | None:
    """The version a program reports, read leniently: `5.1.6-0+deb12u1` -> 5.1.6."""
    found = _LEADING_VERSION.match(text.strip().lstrip("vV"))
    if found is None:
        return None
    try:
        return Version(found.group())
    except InvalidVersion:
        return None


def unmet(requirements: Requirements, capabilities: Capabilities) -> list[str]:
    """What this machine lacks of the requirements, one sentence each; empty when it has all."""
    missing: list[str] = []
    if requirements.os and capabilities.os.lower() not in {o.lower() for o in requirements.os}:
        missing.append(
            f"needs {' or '.join(requirements.os)}; this node runs {capabilities.os or 'unknown'}"
        )
    if requirements.arch and _arch(capabilities.arch) not in {_arch(a) for a in requirements.arch}:
        missing.append(
            f"needs {' or '.join(requirements.arch)}; this node is {capabilities.arch or 'unknown'}"
        )
    installed = {name.lower(): version for name, version in capabilities.software.items()}
    missing += [_software_gap(need, installed) for need in requirements.software]
    if requirements.min_ram_gib and capabilities.ram_bytes < requirements.min_ram_gib * GIB:
        missing.append(
            f"needs {requirements.min_ram_gib:g} GiB of RAM; "
            f"this node has {capabilities.ram_bytes / GIB:.1f} GiB"
        )
    if requirements.gpu:
        missing += _gpu_gap(requirements.gpu, capabilities)
    return [gap for gap in missing if gap]


def _software_gap(need: Software, installed: Mapping[str, str]) -> str:
    if need.name not in installed:
        return f"needs {need}; this node has no {need.name}"
    if not need.versions:
        return ""
    reported = installed[need.name]
    version = leading_version(reported)
    if version is None:
        return f"needs {need}; this node has {need.name} of an unknown version ({reported})"
    if need.versions.contains(version, prereleases=True):
        return ""
    return f"needs {need}; this node has {reported}"


def _gpu_gap(gpu: bool | str, capabilities: Capabilities) -> list[str]:
    if gpu is True:
        return [] if capabilities.gpus else ["needs a GPU; this node has none"]
    if any(g.vendor.lower() == gpu for g in capabilities.gpus):
        return []
    found = ", ".join(f"{g.vendor} {g.name}" for g in capabilities.gpus) or "none"
    return [f"needs {_gpu_words(gpu)}; this node has {found}"]


def unmet_by_activity(
    needs: Iterable[tuple[str, Requirements]], capabilities: Capabilities
) -> dict[str, list[str]]:
    """For (activity, requirements) pairs: the activities this machine cannot run, and why."""
    gaps = {name: unmet(requirements, capabilities) for name, requirements in needs}
    return {name: reasons for name, reasons in gaps.items() if reasons}


def combined(many: Iterable[Requirements]) -> Requirements:
    """What a machine must have to meet every one of `many`: each program with each of its
    version ranges, the most RAM, a GPU if any asks (of a vendor if one names it), and the
    systems and architectures they all accept (an empty list accepts any); PluginError when
    they accept no system or architecture in common."""
    merged = Requirements()
    for one in many:
        gpu: bool | str = merged.gpu if isinstance(merged.gpu, str) else (one.gpu or merged.gpu)
        software = merged.software + tuple(s for s in one.software if s not in merged.software)
        merged = Requirements(
            os=_both(merged.os, one.os),
            arch=_both(merged.arch, one.arch),
            software=[str(s) for s in software],
            min_ram_gib=max(merged.min_ram_gib, one.min_ram_gib),
            gpu=gpu,
        )
    return merged


def _both(first: tuple[str, ...], second: tuple[str, ...]) -> tuple[str, ...]:
    if not first or not second:
        return first or second
    wanted = {name.lower() for name in second}
    common = tuple(name for name in first if name.lower() in wanted)
    if not common:
        raise PluginError(f"one needs {' or '.join(first)}, another {' or '.join(second)}")
    return common
