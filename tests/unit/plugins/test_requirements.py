"""Requirement matching: what an activity needs against what a node's probe found, in words."""

from __future__ import annotations

import pytest

from witengine.errors import PluginError
from witengine.plugins.requirements import (
    Requirements,
    combined,
    leading_version,
    unmet,
    unmet_by_activity,
)
from witengine.protocol import Capabilities, GpuInfo

GIB = 1024**3


def machine(
    *,
    os: str = "Linux",
    arch: str = "x86_64",
    ram_gib: float = 16,
    software: dict[str, str] | None = None,
    gpus: list[GpuInfo] | None = None,
) -> Capabilities:
    return Capabilities(
        os=os,
        arch=arch,
        cores=8,
        ram_bytes=int(ram_gib * GIB),
        software={"python": "3.11.7", **(software or {})},
        gpus=gpus or [],
    )


RTX = GpuInfo(vendor="nvidia", name="NVIDIA GeForce RTX 3060", memory_bytes=12 * GIB)


@pytest.mark.parametrize(
    ("requirements", "capabilities", "gaps"),
    [
        (Requirements(), machine(), []),
        (Requirements(software="blender>=3.0"), machine(software={"blender": "3.6.2"}), []),
        (
            Requirements(software="blender>=3.0"),
            machine(software={"blender": "2.93"}),
            ["needs blender>=3.0; this node has 2.93"],
        ),
        (
            Requirements(software="blender>=3.0"),
            machine(),
            ["needs blender>=3.0; this node has no blender"],
        ),
        (
            Requirements(software=["Blender>=3.0,<4", "ffmpeg>=5"]),
            machine(software={"blender": "4.1.0", "ffmpeg": "5.1.6-0+deb12u1"}),
            ["needs Blender>=3.0,<4; this node has 4.1.0"],
        ),
        (Requirements(software="ffmpeg"), machine(software={"ffmpeg": "n6.1"}), []),
        (
            Requirements(software="ffmpeg>=5"),
            machine(software={"ffmpeg": "git-2024-01-01"}),
            ["needs ffmpeg>=5; this node has ffmpeg of an unknown version (git-2024-01-01)"],
        ),
        (Requirements(software="python>=3.11"), machine(), []),
        (Requirements(os=["linux", "Darwin"]), machine(), []),
        (
            Requirements(os="Windows"),
            machine(os="Linux"),
            ["needs Windows; this node runs Linux"],
        ),
        (Requirements(arch="x86_64"), machine(arch="AMD64"), []),
        (Requirements(arch="arm64"), machine(arch="aarch64"), []),
        (
            Requirements(arch="arm64"),
            machine(arch="x86_64"),
            ["needs arm64; this node is x86_64"],
        ),
        (Requirements(min_ram_gib=8), machine(ram_gib=8), []),
        (
            Requirements(min_ram_gib=8),
            machine(ram_gib=3.8),
            ["needs 8 GiB of RAM; this node has 3.8 GiB"],
        ),
        (Requirements(gpu=True), machine(gpus=[RTX]), []),
        (Requirements(gpu=True), machine(), ["needs a GPU; this node has none"]),
        (Requirements(gpu="NVIDIA"), machine(gpus=[RTX]), []),
        (
            Requirements(gpu="amd"),
            machine(gpus=[RTX]),
            ["needs an amd GPU; this node has nvidia NVIDIA GeForce RTX 3060"],
        ),
        (
            Requirements(os="Darwin", software="blender>=3", min_ram_gib=32, gpu=True),
            machine(software={"blender": "2.93"}),
            [
                "needs Darwin; this node runs Linux",
                "needs blender>=3; this node has 2.93",
                "needs 32 GiB of RAM; this node has 16.0 GiB",
                "needs a GPU; this node has none",
            ],
        ),
    ],
)
def test_unmet_says_what_the_node_lacks_in_words(
    requirements: Requirements, capabilities: Capabilities, gaps: list[str]
) -> None:
    assert unmet(requirements, capabilities) == gaps


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("3.4.1", "3.4.1"),
        ("2.93", "2.93"),
        ("5.1.6-0+deb12u1", "5.1.6"),
        ("n6.1", None),
        ("v4.2", "4.2"),
        ("", None),
    ],
)
def test_versions_that_programs_report_are_read_leniently(text: str, version: str | None) -> None:
    found = leading_version(text)
    assert (str(found) if found is not None else None) == version


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"software": "blender=>3.0"}, "cannot read the software requirement 'blender=>3.0'"),
        ({"software": "blender[gpu]>=3"}, "may only name a program and a version range"),
        ({"min_ram_gib": -1}, "min_ram_gib must not be negative"),
    ],
)
def test_a_mistyped_requirement_fails_when_the_plugin_loads(
    given: dict[str, object], message: str
) -> None:
    with pytest.raises(PluginError, match=message.replace("[", r"\[")):
        Requirements(**given)  # type: ignore[arg-type]


def test_requirements_describe_themselves_and_are_empty_by_default() -> None:
    assert not Requirements()
    needs = Requirements(os="Linux", software=["blender>=3.0"], min_ram_gib=4, gpu="nvidia")
    assert needs
    assert needs.describe() == ["Linux", "blender>=3.0", "4 GiB of RAM", "an nvidia GPU"]


def test_unmet_by_activity_lists_only_the_activities_a_node_cannot_run() -> None:
    needs = [
        ("Render.Frame", Requirements(software="blender>=3.0")),
        ("Video.Encode", Requirements(software="ffmpeg")),
        ("Compute.Work", Requirements()),
    ]
    found = unmet_by_activity(needs, machine(software={"ffmpeg": "6.0"}))
    assert found == {"Render.Frame": ["needs blender>=3.0; this node has no blender"]}


def test_combined_requirements_ask_for_every_need_of_each() -> None:
    both = combined(
        [
            Requirements(software="python>=3.10", os=("Linux", "Darwin")),
            Requirements(software=["python<3.13", "prman"], min_ram_gib=4, os="linux"),
            Requirements(software="python>=3.10", gpu=True),
        ]
    )
    assert [str(s) for s in both.software] == ["python>=3.10", "python<3.13", "prman"]
    assert both.os == ("Linux",) and both.min_ram_gib == 4 and both.gpu is True
    assert unmet(both, machine(software={"python": "3.13.0", "prman": "24.1"}, gpus=[])) == [
        "needs python<3.13; this node has 3.13.0",
        "needs a GPU; this node has none",
    ]
    assert combined([]) == Requirements()


def test_requirements_no_one_system_meets_cannot_be_combined() -> None:
    with pytest.raises(PluginError, match="one needs Windows, another Linux"):
        combined([Requirements(os="Windows"), Requirements(os="Linux")])
