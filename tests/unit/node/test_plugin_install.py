"""A node installs the hub's plugin bundles that verify, and only those: trust on first use of the
hub's key, --trust-key files, refusals logged with nothing written or loaded, bundles for other
platforms skipped, installed plugins reused, and worker processes that import them."""

from __future__ import annotations

import hashlib
import logging
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from witengine.hub.app import Hub, build_hub, create_app
from witengine.hub.settings import HubSettings
from witengine.node.plugins import PluginInstaller
from witengine.node.runner import Runner
from witengine.plugins import bundles
from witengine.plugins.bundles import Bundle, pack_source
from witengine.plugins.registry import build_library
from witengine.protocol import API_PREFIX, Assign, PluginInfo, TaskSpec
from witengine.runtime.library import Library

HUB = "http://hub"


@dataclass
class Probe:
    """A throwaway plugin package, never imported by the test itself."""

    module: str
    name: str
    bundle: Bundle
    activity: str = "Probe.Double"


@dataclass
class Setup:
    hub: Hub
    client: httpx.AsyncClient
    cache: Path
    requests: list[str] = field(default_factory=list)

    def installer(self, *trust_keys: Path) -> PluginInstaller:
        return PluginInstaller(HUB, self.cache, self.client, trust_keys)


def make_probe(folder: Path, version: str = "1.0", platforms: str | None = None) -> Probe:
    module = f"wit_probe_{uuid.uuid4().hex[:10]}"
    name = module.replace("_", "-")
    package = folder / module
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from witengine.plugins.api import Int, Plugin\n"
        f"plugin = Plugin({name!r}, version={version!r})\n\n"
        "@plugin.activity('Probe.Double')\n"
        "def double(n: Int) -> Int:\n"
        "    return 2 * n\n"
    )
    bundle = pack_source(
        package,
        name=name,
        version=version,
        entry=f"{module}:plugin",
        witengine=bundles.default_witengine_range(),
    )
    if platforms is not None:
        manifest = {**bundle.manifest.to_json(), "platforms": [platforms]}
        data = bundles.write_zip(
            manifest, {f"{module}/__init__.py": (package / "__init__.py").read_bytes()}
        )
        bundle = Bundle(
            bundles.Manifest.from_json(manifest), data, hashlib.sha256(data).hexdigest()
        )
    return Probe(module, name, bundle)


@pytest.fixture(autouse=True)
def clean_imports() -> Iterator[None]:
    """Whatever the installer adds to sys.path and sys.modules goes when the test ends."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        if name.startswith("wit_probe_"):
            del sys.modules[name]


@pytest.fixture
def probe(tmp_path: Path) -> Probe:
    return make_probe(tmp_path / "src")


@pytest.fixture
async def setup(tmp_path: Path, probe: Probe) -> AsyncIterator[Setup]:
    settings = HubSettings(data_dir=tmp_path / "hub", advertise=False)
    hub = build_hub(settings, library=build_library([]), plugins=[])
    hub.bundles.add(probe.bundle)
    found = Setup(hub, httpx.AsyncClient(), tmp_path / "node")

    async def record(request: httpx.Request) -> None:
        found.requests.append(request.url.path.removeprefix(API_PREFIX))

    transport = httpx.ASGITransport(app=create_app(settings, hub))
    assert hub.admin_token is not None, "a new hub makes an admin token"
    async with httpx.AsyncClient(
        transport=transport,
        base_url=HUB + API_PREFIX,
        headers={"Authorization": f"Bearer {hub.admin_token}"},  # as a node's credential would
        event_hooks={"request": [record]},
    ) as client:
        found.client = client
        yield found


def base() -> Library:
    return build_library([])


def nothing_of(probe: Probe, setup: Setup) -> None:
    """Nothing of the bundle was written into the plugin folder or loaded."""
    plugins = setup.cache / "plugins"
    assert not plugins.exists() or list(plugins.iterdir()) == [], list(plugins.iterdir())
    assert probe.module not in sys.modules


async def test_a_node_installs_a_plugin_it_lacks_and_can_call_its_activities(
    setup: Setup, probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        library, installed = await setup.installer().install(base(), [])
    (plugin,) = installed
    assert plugin.info == PluginInfo(name=probe.name, version="1.0")
    assert plugin.folder == (setup.cache / "plugins" / f"{probe.name}-1.0").absolute()
    assert (plugin.folder / probe.module / "__init__.py").exists()
    assert library.activities[probe.activity].function(21) == 42
    assert (probe.name, "1.0") in library.plugins
    pin = setup.cache / "keys" / "hub-signing.pub"
    assert pin.read_text() == setup.hub.bundles.signing_key().public_key
    assert f"trusting the signing key {setup.hub.bundles.key_id} of hub {HUB}" in caplog.text
    assert f"installed plugin {probe.name} 1.0 from {HUB}" in caplog.text


async def test_a_plugin_the_node_has_at_that_version_is_not_downloaded(
    setup: Setup, probe: Probe
) -> None:
    library, installed = await setup.installer().install(
        base(), [PluginInfo(name=probe.name, version="1.0")]
    )
    assert installed == [] and probe.activity not in library.activities
    assert not any(path.endswith("/bundle") for path in setup.requests)
    nothing_of(probe, setup)


async def test_a_node_keeps_its_own_version_of_a_plugin_and_says_so(
    setup: Setup, probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        _, installed = await setup.installer().install(
            base(), [PluginInfo(name=probe.name, version="0.9")]
        )
    assert installed == []
    assert f"serves plugin {probe.name} 1.0; this node keeps its own {probe.name} 0.9" in (
        caplog.text
    )


async def test_an_installed_plugin_is_reused_after_a_restart_without_downloading_it(
    setup: Setup, probe: Probe
) -> None:
    await setup.installer().install(base(), [])
    setup.requests.clear()
    library, installed = await setup.installer().install(base(), [])  # a new node process
    assert [p.info.name for p in installed] == [probe.name]
    assert probe.activity in library.activities
    assert not any(path.endswith("/bundle") for path in setup.requests)


async def test_an_installed_plugin_whose_files_changed_is_installed_again(
    setup: Setup, probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    (first,) = (await setup.installer().install(base(), []))[1]
    code = first.folder / probe.module / "__init__.py"
    original = code.read_text()
    code.write_text(original + "\nraise SystemExit('tampered')\n")
    del sys.modules[probe.module]
    with caplog.at_level(logging.WARNING):
        library, _ = await setup.installer().install(base(), [])
    assert code.read_text() == original
    assert "installing" in caplog.text and "again" in caplog.text
    assert library.activities[probe.activity].function(1) == 2


async def test_a_bundle_corrupted_on_the_hub_is_refused_and_nothing_of_it_is_kept(
    setup: Setup, probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    cached = setup.hub.bundles.path(probe.name, "1.0")
    assert cached is not None
    data = bytearray(cached.read_bytes())
    data[len(data) // 3] ^= 0xFF
    cached.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        library, installed = await setup.installer().install(base(), [])
    assert installed == [] and probe.activity not in library.activities
    assert f"refused plugin bundle {probe.name} 1.0 from {HUB}: its bytes hash to sha256" in (
        caplog.text
    )
    nothing_of(probe, setup)


async def test_a_hub_whose_key_changed_after_first_contact_has_its_bundles_refused(
    setup: Setup, probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    pin = setup.cache / "keys" / "hub-signing.pub"
    pin.parent.mkdir(parents=True)
    earlier = Ed25519PrivateKey.generate().public_key()
    pin.write_text(bundles.public_key_pem(earlier))
    with caplog.at_level(logging.WARNING):
        library, installed = await setup.installer().install(base(), [])
    assert installed == [] and probe.activity not in library.activities
    assert (
        f"hub {HUB} signs with key {setup.hub.bundles.key_id}, not the key "
        f"{bundles.key_id(earlier)} pinned in {pin} on first contact" in caplog.text
    )
    assert (
        f"refused plugin bundle {probe.name} 1.0 from {HUB}: "
        "signature does not verify against any trusted key" in caplog.text
    )
    assert pin.read_text() == bundles.public_key_pem(earlier), "the pin is never replaced"
    nothing_of(probe, setup)


async def test_a_trust_key_file_lets_a_node_accept_a_key_it_did_not_pin(
    setup: Setup, probe: Probe, tmp_path: Path
) -> None:
    pin = setup.cache / "keys" / "hub-signing.pub"
    pin.parent.mkdir(parents=True)
    pin.write_text(bundles.public_key_pem(Ed25519PrivateKey.generate().public_key()))
    trusted = tmp_path / "hub.pub"
    trusted.write_text(setup.hub.bundles.signing_key().public_key)
    _, installed = await setup.installer(trusted).install(base(), [])
    assert [p.info.name for p in installed] == [probe.name]


async def test_a_bundle_built_for_another_platform_is_skipped_without_downloading_it(
    setup: Setup, probe: Probe, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    other = make_probe(tmp_path / "other", platforms="plan9-mips")
    setup.hub.bundles.add(other.bundle)
    with caplog.at_level(logging.INFO):
        _, installed = await setup.installer().install(base(), [])
    assert [p.info.name for p in installed] == [probe.name]
    assert f"skipped plugin {other.name} 1.0 from {HUB}: it is built for plan9-mips" in (
        caplog.text
    )
    assert f"/plugins/{other.name}/1.0/bundle" not in setup.requests
    assert other.module not in sys.modules


async def test_a_listing_with_a_name_that_could_escape_the_plugin_folder_is_refused(
    tmp_path: Path, probe: Probe, caplog: pytest.LogCaptureFixture
) -> None:
    entry = {
        "name": "..",
        "version": "1.0",
        "entry": "x:plugin",
        "witengine": ">=0",
        "platforms": ["any"],
        "sha256": "0" * 64,
        "size": 1,
        "signature": "",
        "key_id": "",
        "url": "/elsewhere",
    }

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/plugins"):
            return httpx.Response(200, json=[entry])
        return httpx.Response(404, json={"detail": "no"})

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(answer), base_url=HUB + API_PREFIX
    ) as client:
        installer = PluginInstaller(HUB, tmp_path / "node", client)
        with caplog.at_level(logging.WARNING):
            _, installed = await installer.install(base(), [])
    assert installed == []
    assert "refused plugin bundle '.. 1.0'" in caplog.text and "not a plain name" in caplog.text
    assert not (tmp_path / "node" / "plugins").exists()


async def test_a_hub_without_plugin_routes_leaves_the_node_as_it_is(tmp_path: Path) -> None:
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda _: httpx.Response(404, json={})),
        base_url=HUB + API_PREFIX,
    ) as client:
        library = base()
        got, installed = await PluginInstaller(HUB, tmp_path, client).install(library, [])
    assert got is library and installed == []


async def test_a_worker_process_imports_a_plugin_added_to_its_runner(
    setup: Setup, probe: Probe, tmp_path: Path
) -> None:
    _, (plugin,) = await setup.installer().install(base(), [])
    runner = Runner([], tmp_path / "blobs")
    (tmp_path / "blobs").mkdir()
    runner.add_plugins([plugin.plugin.ref], [plugin.folder])
    batch = Assign(
        batch_id="b1",
        job_id="job_1",
        activity=probe.activity,
        tasks=[TaskSpec(map_id="m", index=i, attempt=1, args=[i]) for i in range(3)],
        lease_seconds=30,
    )
    try:
        parts = [part async for part in runner.run(batch)]
    finally:
        await runner.kill()
    assert [r.value for part in parts if isinstance(part, list) for r in part] == [0, 2, 4]
