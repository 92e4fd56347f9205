"""`wit run --dask ADDRESS`: a job's maps on an existing Dask cluster, with no hub and no node."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


async def run_on_dask(
    checked: Any,
    texts: dict[str, str],
    library: Any,
    out_dir: Path,
    as_json: bool,
    address: str,
    shared: Path | None,
) -> Any:
    from witengine.cli.app import _interruptible, _run_shown
    from witengine.engines.dask_executor import DaskExecutor
    from witengine.plugins.registry import discover
    from witengine.runtime.blobs import LocalBlobStore
    from witengine.runtime.control import JobControl
    from witengine.settings import Settings

    settings = Settings.from_env()
    store = LocalBlobStore(settings.blob_dir)
    control = JobControl()

    def cancel_job() -> str:
        control.cancel()  # the map under way cancels its Dask tasks as it ends
        return "cancelling the job and its Dask tasks (Ctrl-C again to stop at once)"

    async def go() -> Any:
        if not as_json:
            print(f"running on the Dask cluster at {address}…", file=sys.stderr)
        executor = await DaskExecutor.connect(address, library, store, discover(), shared=shared)
        async with executor:
            return await _run_shown(
                checked,
                texts,
                as_json,
                library=library,
                executor=executor,
                store=store,
                out_dir=out_dir,
                control=control,
            )

    return await _interruptible(go(), cancel_job, lambda: "stopped at once", out_dir)
