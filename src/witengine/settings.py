"""Settings of one process, from `WIT_*` variables; built once at the edge and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


def _config_dir(env: Mapping[str, str]) -> Path:
    explicit = env.get("WIT_CONFIG_DIR")
    if explicit:
        return Path(explicit)
    xdg = env.get("XDG_CONFIG_HOME")
    return (Path(xdg) if xdg else Path("~/.config").expanduser()) / "witengine"


@dataclass(frozen=True)
class Settings:
    """Where witengine keeps its files on this machine."""

    cache_dir: Path
    config_dir: Path = field(default_factory=lambda: _config_dir(os.environ))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        explicit = env.get("WIT_CACHE_DIR")
        if explicit:
            return cls(cache_dir=Path(explicit), config_dir=_config_dir(env))
        xdg = env.get("XDG_CACHE_HOME")
        base = Path(xdg) if xdg else Path("~/.cache").expanduser()
        return cls(cache_dir=base / "witengine", config_dir=_config_dir(env))

    @property
    def blob_dir(self) -> Path:
        return self.cache_dir / "blobs"

    @property
    def hub_notes_dir(self) -> Path:
        """Where each hub running on this machine notes its data folder, in a file named after
        its port, so that commands asking it find its admin token."""
        return self.config_dir / "hubs"

    @property
    def pin_dir(self) -> Path:
        """The certificate fingerprints of the hubs this machine's commands talk to, one file
        per hub address, saved at the first contact that matched a fingerprint given to them."""
        return self.config_dir / "pins"
