"""The plugin bundles a hub serves: packed and signed at start, kept under the data dir.

Every plugin the hub runs is packed, except those that ship inside witengine (nodes always have
them). Bundles are cached as `<data-dir>/plugins/<name>-<version>-<sha256[:16]>.zip`; packing
is deterministic, so a restart finds the same file, and a cached file whose bytes changed is
written again. Requests are served from the files on disk.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from witengine.errors import PluginError
from witengine.plugins.api import Plugin
from witengine.plugins.bundles import Bundle, key_id, pack, public_key_pem, sign
from witengine.protocol.bundles import PluginBundle, SigningKey

log = logging.getLogger(__name__)


def is_built_in(plugin: Plugin) -> bool:
    """Whether a plugin ships inside witengine, so every node has it already."""
    return plugin.ref.partition(":")[0].split(".")[0] == "witengine"


@dataclass(frozen=True)
class _Shelved:
    info: PluginBundle
    path: Path


class BundleShelf:
    """Signed bundles by name and version, and the public key that signed them."""

    def __init__(self, folder: Path, key: Ed25519PrivateKey) -> None:
        self.folder = folder
        self.key = key
        self.key_id = key_id(key.public_key())
        self._bundles: dict[tuple[str, str], _Shelved] = {}

    @classmethod
    def build(cls, plugins: Iterable[Plugin], folder: Path, key: Ed25519PrivateKey) -> BundleShelf:
        """Pack and sign every plugin that is not built in; one that cannot be packed is logged
        and left out (nodes then need it installed by hand)."""
        shelf = cls(folder, key)
        for plugin in plugins:
            if is_built_in(plugin):
                continue
            try:
                shelf.add(pack(plugin))
            except PluginError as error:
                log.warning(
                    "plugin %s %s is not served to nodes: %s", plugin.name, plugin.version, error
                )
        return shelf

    def add(self, bundle: Bundle) -> PluginBundle:
        manifest = bundle.manifest
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{manifest.name}-{manifest.version}-{bundle.sha256[:16]}.zip"
        if not _holds(path, bundle.sha256):
            if path.exists():
                log.warning("the cached bundle %s had changed; writing it again", path)
            _write(path, bundle.data)
        info = PluginBundle(
            name=manifest.name,
            version=manifest.version,
            entry=manifest.entry,
            witengine=manifest.witengine,
            platforms=list(manifest.platforms),
            python=manifest.python,
            sha256=bundle.sha256,
            size=len(bundle.data),
            signature=sign(bundle.sha256, self.key),
            key_id=self.key_id,
            url=f"/plugins/{manifest.name}/{manifest.version}/bundle",
        )
        self._bundles[(manifest.name, manifest.version)] = _Shelved(info, path)
        log.info(
            "serving plugin bundle %s %s (sha256 %s)",
            manifest.name,
            manifest.version,
            bundle.sha256[:16],
        )
        return info

    def listing(self) -> list[PluginBundle]:
        return [shelved.info for _, shelved in sorted(self._bundles.items())]

    def path(self, name: str, version: str) -> Path | None:
        shelved = self._bundles.get((name, version))
        return shelved.path if shelved else None

    def signing_key(self) -> SigningKey:
        return SigningKey(key_id=self.key_id, public_key=public_key_pem(self.key.public_key()))


def _holds(path: Path, sha256: str) -> bool:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() == sha256
    except OSError:
        return False


def _write(path: Path, data: bytes) -> None:
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".bundle-", delete=False) as out:
        out.write(data)
    Path(out.name).replace(path)
