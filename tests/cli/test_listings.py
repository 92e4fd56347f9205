"""`wit jobs` and `wit nodes` in an 80-column terminal: one line per row with short ids, as
`docker ps` lists containers; whole ids and every detail with --wide."""

from __future__ import annotations

import time

from rich.console import Console

from witengine.cli.views import jobs_table, nodes_table, short_id
from witengine.protocol import Capabilities, GpuInfo, JobSummary, NodeSummary, Progress

ERROR = "job.wit:5: Compute.Fail: ComputeFailure: on purpose, after 3 tries (in: Compute.Fail(x);)"
JOBS = [
    JobSummary(
        id="job_0ed160b896dc4853",
        name="RenderAnimation",
        status="running",
        created_at=time.time(),
        progress=Progress(done=24, total=20000),
        eta_seconds=7300.0,
    ),
    JobSummary(
        id="job_dd2b460229004787",
        name="CountPrimes",
        status="failed",
        error=ERROR,
        created_at=time.time() - 3 * 86400,
        progress=Progress(done=1998, total=1998),
    ),
]
NODES = [
    NodeSummary(
        id="node_fe9bb52ab972",
        name="render-03",
        state="offline",
        slots=16,
        running=31,
        done=120453,
        last_seen=0.0,
        capabilities=Capabilities(
            os="Linux",
            arch="x86_64",
            cores=64,
            ram_bytes=256 << 30,
            gpus=[GpuInfo(vendor="nvidia", name="NVIDIA GeForce RTX 4090")],
            software={"blender": "4.2.1", "ffmpeg": "5.1.9-0+deb12u1", "python": "3.11.7"},
        ),
    )
]


def shown(table: object, width: int = 80) -> list[str]:
    console = Console(width=width, record=True, force_terminal=False)
    console.print(table)
    return console.export_text().splitlines()


def test_short_ids_keep_the_kind_and_eight_characters() -> None:
    assert short_id("job_0ed160b896dc4853") == "job_0ed160b8"
    assert short_id("node_fe9bb52ab972") == "node_fe9bb52a"


def test_jobs_fit_an_80_column_terminal_one_line_each_with_short_ids() -> None:
    lines = shown(jobs_table(JOBS))
    assert max(len(line) for line in lines) <= 80
    rows = [line for line in lines if line.startswith("job_")]
    assert [row.split()[0] for row in rows] == ["job_0ed160b8", "job_dd2b4602"]
    assert "about 2 h 2 min" in rows[0] and "RenderAnimation" in rows[0]
    assert len(lines) == 5  # title, header, rule, a line per job


def test_jobs_wide_shows_whole_ids_and_errors() -> None:
    text = "\n".join(shown(jobs_table(JOBS, wide=True), width=200))
    assert "job_0ed160b896dc4853" in text and "job_dd2b460229004787" in text
    assert ERROR in text


def test_nodes_fit_an_80_column_terminal_one_line_each() -> None:
    lines = shown(nodes_table(NODES))
    assert max(len(line) for line in lines) <= 80
    (row,) = [line for line in lines if line.startswith("render-03")]
    assert row.split() == [
        "render-03",
        "offline",
        "31/16",
        "120453",
        "64",
        "cores,",
        "256.0",
        "GiB",
        "1",
        "blender,",
        "ffmpeg",
    ]


def test_a_pooled_farm_s_nodes_keep_their_names_readable_in_80_columns() -> None:
    volunteer = NODES[0].model_copy(
        update={
            "name": "volunteer-ada-07",
            "pool": "volunteers",
            "tier": "untrusted",
            "owner": "ada",
        }
    )
    lines = shown(nodes_table([volunteer]))
    assert max(len(line) for line in lines) <= 80
    (row,) = [line for line in lines if "offline" in line]
    assert row.startswith("volunteer-ada…") or row.startswith("volunteer-ada-07"), row
    assert "volunteers (untrusted)" in row


def test_nodes_wide_shows_the_id_gpus_and_versions() -> None:
    text = "\n".join(shown(nodes_table(NODES, wide=True), width=200))
    for part in ("node_fe9bb52ab972", "Linux x86_64", "NVIDIA GeForce RTX 4090", "5.1.9-0+deb12u1"):
        assert part in text
    assert "blender 4.2.1, ffmpeg 5.1.9-0+deb12u1, python 3.11.7" in text


def test_nodes_show_why_the_owner_policy_put_one_in_its_state() -> None:
    desk = NODES[0].model_copy(
        update={"name": "desk-12", "state": "suspended", "reason": "the owner is back"}
    )
    lines = shown(nodes_table([*NODES, desk]))
    assert max(len(line) for line in lines) <= 80
    (header,) = [line for line in lines if line.startswith("name")]
    assert header.split()[:3] == ["name", "state", "reason"]
    (row,) = [line for line in lines if line.startswith("desk-12")]
    assert row.split()[:3] == ["desk-12", "suspended", "the"]
    wide = "\n".join(shown(nodes_table([desk], wide=True), width=200))
    assert "the owner is back" in wide
