"""The options of watched folders, shared by `wit hub --watch` and `wit watch`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

SettleOption = Annotated[
    float,
    typer.Option(
        "--settle",
        min=0.0,
        metavar="SECONDS",
        help="A file is taken once its size and modification time stay the same this long.",
    ),
]
PollOption = Annotated[
    float,
    typer.Option("--poll", min=0.05, metavar="SECONDS", help="Seconds between looks at a folder."),
]
JobsOption = Annotated[
    int, typer.Option("--jobs", min=1, help="Job files of one folder run at once, at most.")
]


WatchOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--watch",
        metavar="DIR",
        help="Run the job files dropped into DIR (docs/studio.md). Repeatable.",
        show_default=False,
    ),
]


def watch_settings(settle: float, poll: float, jobs: int) -> Any:
    from witengine.folders.watcher import WatchSettings

    return WatchSettings(settle_seconds=settle, poll_seconds=poll, jobs=jobs)
