"""Hostile input (issue 15): what a hub keeps on disk is readable by its owner alone."""

from __future__ import annotations

import stat
from pathlib import Path

from witengine.hub.app import build_hub
from witengine.hub.settings import HubSettings
from witengine.plugins.registry import build_library


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_hubs_data_folder_and_store_are_its_owners_alone(tmp_path: Path) -> None:
    folder = tmp_path / "farm"
    folder.mkdir(mode=0o755)  # a folder the user made, open to all
    hub = build_hub(HubSettings(data_dir=folder), library=build_library([]), plugins=[])
    try:
        assert mode(folder) == 0o700
        assert mode(folder / "hub.sqlite3") == 0o600
        wal = folder / "hub.sqlite3-wal"  # its schema written: the WAL file exists
        assert wal.exists() and mode(wal) == 0o600
    finally:
        hub.store.close()
