"""Plugins a node gets from its hub: listed, checked, installed into its cache, loaded.

At each connect, before its hello, the node asks the hub which bundles it serves and installs
those it lacks that fit this machine, into `<cache-dir>/plugins/<name>-<version>/`. A bundle is
used only when its bytes hash to the listed sha256 and its signature verifies against a key the
node trusts: the hub's own key, pinned in `<cache-dir>/keys/hub-signing.pub` on first contact
(trust on first use), and any `--trust-key` files. Bundles are checked in memory and extracted
into a staging folder that is renamed into place only when complete, so a refused bundle leaves
nothing in the plugin folder and nothing of it is loaded. Refusals are logged, never raised: a
node without a plugin still runs everything else.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import TypeAdapter, ValidationError

from witengine.errors import BundleError, BundleInvalid, PluginError
from witengine.plugins.api import Plugin
from witengine.plugins.bundles import (
    MANIFEST,
    MAX_BUNDLE_BYTES,
    Manifest,
    check_installed,
    extract,
    incompatibility,
    is_plain_name,
    key_id,
    load_public_key,
    load_public_key_file,
    public_key_pem,
    require_compatible,
    verify,
)
from witengine.plugins.registry import extend_library, load_ref
from witengine.protocol import PluginInfo
from witengine.protocol.bundles import PluginBundle, SigningKey
from witengine.runtime.library import Library

log = logging.getLogger(__name__)
_LISTING: TypeAdapter[list[PluginBundle]] = TypeAdapter(list[PluginBundle])
SHA_FILE = "witengine-bundle.sha256"


@dataclass(frozen=True)
class InstalledPlugin:
    """A plugin from the hub, ready: the folder batch processes import it from, and itself."""

    plugin: Plugin
    folder: Path

    @property
    def info(self) -> PluginInfo:
        return PluginInfo(name=self.plugin.name, version=self.plugin.version)


class PluginInstaller:
    """Installs the hub's plugin bundles that verify, and only those."""

    def __init__(
        self,
        hub_url: str,
        cache_dir: Path,
        client: httpx.AsyncClient,
        trust_keys: Sequence[Path] = (),
    ) -> None:
        self.hub_url = hub_url.rstrip("/")
        self.folder = (cache_dir / "plugins").absolute()  # on sys.path, whatever the cwd
        self.pin = cache_dir / "keys" / "hub-signing.pub"
        self.client = client  # its base URL is the hub's API root
        self.extra_keys = [load_public_key_file(path) for path in trust_keys]

    async def install(
        self, library: Library, have: Sequence[PluginInfo]
    ) -> tuple[Library, list[InstalledPlugin]]:
        """`library` plus the hub's plugins this node lacks, and those plugins."""
        try:
            response = await self.client.get("/plugins")
            if response.status_code == 404:
                return library, []  # a hub that serves no bundles
            response.raise_for_status()
            listing = _LISTING.validate_json(response.content)
        except (httpx.HTTPError, ValidationError) as error:
            log.warning("cannot list the plugins of hub %s: %s", self.hub_url, error)
            return library, []
        trusted = await self.trusted_keys()  # first, so the first contact pins the hub's key
        versions = {info.name: info.version for info in have}
        wanted = [bundle for bundle in listing if self._wanted(bundle, versions)]
        installed = []
        for bundle in wanted:
            label = f"{bundle.name} {bundle.version}"
            try:
                plugin = await self._install(bundle, trusted)
                library = extend_library(library, [plugin.plugin])
            except BundleError as error:
                log.warning("refused plugin bundle %s from %s: %s", label, self.hub_url, error)
                continue
            except PluginError as error:
                log.warning("plugin %s from %s does not load: %s", label, self.hub_url, error)
                continue
            except (httpx.HTTPError, OSError) as error:
                log.warning("cannot fetch plugin bundle %s from %s: %s", label, self.hub_url, error)
                continue
            log.info("installed plugin %s from %s into %s", label, self.hub_url, plugin.folder)
            installed.append(plugin)
        return library, installed

    def _wanted(self, bundle: PluginBundle, versions: dict[str, str]) -> bool:
        label = f"{bundle.name} {bundle.version}"
        if bundle.name in versions:
            if versions[bundle.name] != bundle.version:
                log.info(
                    "hub %s serves plugin %s; this node keeps its own %s %s",
                    self.hub_url,
                    label,
                    bundle.name,
                    versions[bundle.name],
                )
            return False
        if not (is_plain_name(bundle.name) and is_plain_name(bundle.version)):
            log.warning("refused plugin bundle %r from %s: not a plain name", label, self.hub_url)
            return False
        summary = Manifest(
            bundle.name,
            bundle.version,
            bundle.entry,
            bundle.witengine,
            tuple(bundle.platforms),
            bundle.python,
            {},
        )
        reason = incompatibility(summary)  # from the listing; the signed manifest decides later
        if reason is not None:
            log.info("skipped plugin %s from %s: %s", label, self.hub_url, reason)
            return False
        return True

    # ------------------------------------------------------------------ trust

    async def trusted_keys(self) -> list[Ed25519PublicKey]:
        """The `--trust-key` keys, and the hub's key as pinned on first contact."""
        keys = list(self.extra_keys)
        pinned = self._pinned()
        if pinned is not None:
            keys.append(pinned)
        try:
            response = await self.client.get("/keys/signing")
            response.raise_for_status()
            offered = load_public_key(
                SigningKey.model_validate_json(response.content).public_key, "the hub's key"
            )
        except (httpx.HTTPError, ValidationError, PluginError) as error:
            log.warning("cannot read the signing key of hub %s: %s", self.hub_url, error)
            return keys
        if pinned is None and not self.pin.exists():
            self.pin.parent.mkdir(parents=True, exist_ok=True)
            self.pin.write_text(public_key_pem(offered))
            log.info(
                "trusting the signing key %s of hub %s on first contact (pinned in %s)",
                key_id(offered),
                self.hub_url,
                self.pin,
            )
            keys.append(offered)
            return keys
        known = {key_id(key) for key in keys}
        if pinned is not None and key_id(offered) not in known:
            log.warning(
                "hub %s signs with key %s, not the key %s pinned in %s on first contact: "
                "its bundles are refused (delete that file to trust the new key, or pass "
                "it with --trust-key)",
                self.hub_url,
                key_id(offered),
                key_id(pinned),
                self.pin,
            )
        return keys

    def _pinned(self) -> Ed25519PublicKey | None:
        if not self.pin.exists():
            return None
        try:
            return load_public_key_file(self.pin)
        except PluginError as error:
            log.warning("%s; trusting only --trust-key keys", error)
            return None

    # ---------------------------------------------------------------- install

    async def _install(
        self, bundle: PluginBundle, trusted: Sequence[Ed25519PublicKey]
    ) -> InstalledPlugin:
        folder = self.folder / f"{bundle.name}-{bundle.version}"
        manifest = _installed(folder, bundle.sha256)
        if manifest is None:
            data = await self._download(bundle)
            manifest = verify(data, bundle.sha256, bundle.signature, trusted)
            if (manifest.name, manifest.version) != (bundle.name, bundle.version):
                raise BundleInvalid(
                    f"its manifest names {manifest.label}, not the plugin the hub listed"
                )
            require_compatible(manifest)
            await asyncio.to_thread(_place, data, bundle.sha256, folder)
        return InstalledPlugin(_load(folder, manifest), folder)

    async def _download(self, bundle: PluginBundle) -> bytes:
        limit = min(bundle.size, MAX_BUNDLE_BYTES)
        chunks = []
        size = 0
        # The path is ours, from checked names: the listing's url is not followed.
        async with self.client.stream(
            "GET", f"/plugins/{bundle.name}/{bundle.version}/bundle"
        ) as response:
            if response.status_code != 200:
                raise httpx.HTTPStatusError(
                    f"the hub answered {response.status_code}",
                    request=response.request,
                    response=response,
                )
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > limit:
                    raise BundleInvalid(f"its download is larger than the listed {limit} bytes")
                chunks.append(chunk)
        return b"".join(chunks)


def _installed(folder: Path, sha256: str) -> Manifest | None:
    """The manifest of a bundle installed before, when it is this one and still intact."""
    try:
        if (folder / SHA_FILE).read_text().strip() != sha256:
            return None
        manifest = Manifest.from_json(json.loads((folder / MANIFEST).read_text()))
        check_installed(folder, manifest)
    except (OSError, ValueError, BundleError) as error:
        if folder.exists():
            log.warning("installing %s again: %s", folder, error)
        return None
    return manifest


def _place(data: bytes, sha256: str, folder: Path) -> None:
    """Extract a verified bundle beside `folder`, then rename it into place."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".incoming-"))
    try:
        manifest = extract(data, staging)
        staging.chmod(0o755)  # mkdtemp made it private; it holds plain code, like site-packages
        (staging / MANIFEST).write_text(json.dumps(manifest.to_json(), indent=2) + "\n")
        (staging / SHA_FILE).write_text(sha256 + "\n")
        if folder.exists():
            old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".replaced-"))
            folder.rename(old / folder.name)
            shutil.rmtree(old, ignore_errors=True)
        staging.rename(folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _load(folder: Path, manifest: Manifest) -> Plugin:
    """The Plugin at the manifest's entry, imported from `folder` and nowhere else."""
    top = manifest.entry.partition(":")[0].split(".")[0]
    loaded = sys.modules.get(top)
    if loaded is not None and not _inside(getattr(loaded, "__file__", None), folder):
        raise PluginError(
            f"module '{top}' is already loaded from {getattr(loaded, '__file__', '?')}; "
            "restart the node to use the bundle"
        )
    if str(folder) not in sys.path:
        sys.path.append(str(folder))  # last: a bundle never shadows what the node has
    importlib.invalidate_caches()
    plugin = load_ref(manifest.entry)
    if not _inside(getattr(sys.modules.get(top), "__file__", None), folder):
        raise PluginError(f"module '{top}' was found outside the bundle, so it is not used")
    if (plugin.name, plugin.version) != (manifest.name, manifest.version):
        raise PluginError(
            f"its entry {manifest.entry} is plugin {plugin.name} {plugin.version}, "
            f"not {manifest.label}"
        )
    return plugin


def _inside(file: str | None, folder: Path) -> bool:
    return file is not None and Path(file).resolve().is_relative_to(folder.resolve())
