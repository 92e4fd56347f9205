"""The hub's plugin bundles: a signing key made once and kept private, every plugin that does not
ship with witengine packed, signed, cached under the data dir and served with its signature."""

from __future__ import annotations

import hashlib
import logging
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from witengine.hub.app import Hub, build_hub, create_app
from witengine.hub.settings import HubSettings
from witengine.plugins import bundles
from witengine.plugins.api import Plugin
from witengine.plugins.registry import load_ref
from witengine.protocol import API_PREFIX
from witengine.protocol.bundles import PluginBundle, SigningKey

EXAMPLE = Path(__file__).parents[3] / "docs" / "examples" / "plugin"


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Plugin]]:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    yield [load_ref("witengine.plugins.compute:plugin"), load_ref("wit_tiles:plugin")]
    sys.modules.pop("wit_tiles", None)  # later tests find the example plugin only if they ask


def make_hub(data_dir: Path, plugins: list[Plugin]) -> Hub:
    return build_hub(HubSettings(data_dir=data_dir, advertise=False), plugins=plugins)


@pytest.fixture
async def client(tmp_path: Path, plugins: list[Plugin]) -> AsyncIterator[httpx.AsyncClient]:
    settings = HubSettings(data_dir=tmp_path / "hub", advertise=False)
    hub = make_hub(settings.data_dir, plugins)
    app = create_app(settings, hub)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {hub.admin_token}"}
    async with httpx.AsyncClient(
        transport=transport, base_url=f"http://hub{API_PREFIX}", headers=headers
    ) as c:
        yield c


def test_the_signing_key_is_made_on_first_start_readable_by_the_hub_alone(
    tmp_path: Path, plugins: list[Plugin]
) -> None:
    first = make_hub(tmp_path / "hub", plugins)
    folder = tmp_path / "hub" / "keys"
    assert stat.S_IMODE((folder / "signing.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert (folder / "signing.pub").read_text() == first.bundles.signing_key().public_key
    again = make_hub(tmp_path / "hub", plugins)
    assert again.bundles.key_id == first.bundles.key_id


def test_a_signing_key_file_left_readable_by_others_is_made_private(
    tmp_path: Path, plugins: list[Plugin]
) -> None:
    make_hub(tmp_path / "hub", plugins)
    key_file = tmp_path / "hub" / "keys" / "signing.key"
    key_file.chmod(0o644)
    make_hub(tmp_path / "hub", plugins)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


async def test_the_hub_lists_and_serves_signed_bundles_of_plugins_not_built_in(
    client: httpx.AsyncClient,
) -> None:
    listing = [PluginBundle.model_validate(b) for b in (await client.get("/plugins")).json()]
    assert [(b.name, b.version) for b in listing] == [("tiles", "0.1")]  # compute ships with us
    (tiles,) = listing
    assert tiles.entry == "wit_tiles:plugin" and tiles.platforms == ["any"]
    key = SigningKey.model_validate((await client.get("/keys/signing")).json())
    assert key.key_id == tiles.key_id
    response = await client.get(tiles.url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert hashlib.sha256(response.content).hexdigest() == tiles.sha256
    assert len(response.content) == tiles.size
    public = bundles.load_public_key(key.public_key)
    manifest = bundles.verify(response.content, tiles.sha256, tiles.signature, [public])
    assert manifest.name == "tiles" and manifest.entry == tiles.entry


async def test_an_unknown_bundle_is_a_404_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/plugins/tiles/9.9/bundle")
    assert response.status_code == 404
    assert response.json()["detail"] == "no bundle of plugin tiles 9.9"


def test_bundles_are_cached_by_name_version_and_sha_and_rewritten_when_they_changed(
    tmp_path: Path, plugins: list[Plugin], caplog: pytest.LogCaptureFixture
) -> None:
    hub = make_hub(tmp_path / "hub", plugins)
    (info,) = hub.bundles.listing()
    path = hub.bundles.path("tiles", "0.1")
    assert path == tmp_path / "hub" / "plugins" / f"tiles-0.1-{info.sha256[:16]}.zip"
    before = path.stat().st_mtime_ns
    make_hub(tmp_path / "hub", plugins)
    assert path.stat().st_mtime_ns == before, "an intact cached bundle is kept as it is"
    path.write_bytes(b"rotten")
    with caplog.at_level(logging.WARNING):
        make_hub(tmp_path / "hub", plugins)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == info.sha256
    assert "had changed; writing it again" in caplog.text


def test_a_plugin_that_cannot_be_packed_is_logged_and_left_out(
    tmp_path: Path, plugins: list[Plugin], caplog: pytest.LogCaptureFixture
) -> None:
    ghost = Plugin("ghost", "1.0", ref="no_such_module_anywhere:plugin")
    with caplog.at_level(logging.WARNING):
        hub = build_hub(
            HubSettings(data_dir=tmp_path / "hub", advertise=False),
            library=make_hub(tmp_path / "other", plugins).library,
            plugins=[*plugins, ghost],
        )
    assert [b.name for b in hub.bundles.listing()] == ["tiles"]
    assert "plugin ghost 1.0 is not served to nodes" in caplog.text
