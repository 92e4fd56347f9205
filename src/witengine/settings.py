"""Settings of one process, from `WIT_*` variables; built once at the edge and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Where witengine keeps its files on this machine."""

    cache_dir: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        explicit = env.get("WIT_CACHE_DIR")
        if explicit:
            return cls(cache_dir=Path(explicit))
        xdg = env.get("XDG_CACHE_HOME")
        base = Path(xdg) if xdg else Path("~/.cache").expanduser()
        return cls(cache_dir=base / "witengine")

    @property
    def blob_dir(self) -> Path:
        return self.cache_dir / "blobs"
