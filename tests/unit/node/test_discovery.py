"""Finding a hub over mDNS: the URL read from a service record, and a real advertisement found by
a real browse on the loopback interface (skipped, with the reason, where multicast cannot work)."""

from __future__ import annotations

import socket
import uuid

import pytest

from witengine.discovery import SERVICE_TYPE, advertises, browse, find_hub, hub_url
from witengine.hub.discovery import SERVICE_TYPE as ADVERTISED_TYPE
from witengine.hub.discovery import Advertiser
from witengine.protocol import API_PREFIX
from witengine.testing.multicast import LOOPBACK, multicast_on_loopback


@pytest.mark.parametrize(
    ("addresses", "port", "properties", "url"),
    [
        ([socket.inet_aton("192.168.1.20")], 7310, {}, "http://192.168.1.20:7310"),
        ([socket.inet_aton("10.0.0.5")], 443, {b"scheme": b"https"}, "https://10.0.0.5:443"),
        (
            [socket.inet_pton(socket.AF_INET6, "fe80::1"), socket.inet_aton("10.0.0.7")],
            7310,
            {b"scheme": None},
            "http://10.0.0.7:7310",
        ),
        ([socket.inet_pton(socket.AF_INET6, "fe80::1")], 7310, {}, None),
        ([], 7310, {}, None),
    ],
)
def test_a_hub_url_is_made_from_the_first_ipv4_address_of_its_record(
    addresses: list[bytes], port: int, properties: dict[bytes, bytes | None], url: str | None
) -> None:
    assert hub_url(addresses, port, properties) == url


def test_hub_and_node_agree_on_the_service_type() -> None:
    assert SERVICE_TYPE == ADVERTISED_TYPE == "_witengine._tcp.local."


def skip_without_multicast() -> None:
    reason = multicast_on_loopback()
    if reason is not None:
        print(f"skipping mDNS discovery: {reason}")
        pytest.skip(reason)


async def test_a_node_finds_a_hub_advertised_on_the_loopback_interface() -> None:
    skip_without_multicast()
    # Other hubs may be advertised on this machine already (someone runs `wit hub`): a browse
    # returns whichever answers first, so with others about, ours must be among the answers.
    others = {url for url in [await find_hub(1.0, interfaces=[LOOPBACK])] if url is not None}
    listener = socket.create_server((LOOPBACK, 0))  # a port no one else uses
    port = listener.getsockname()[1]
    ours = f"http://{LOOPBACK}:{port}"
    advertiser = Advertiser(name=f"test hub {uuid.uuid4().hex[:8]}", host=LOOPBACK, port=port)
    assert advertiser.info.properties[b"api"] == API_PREFIX.encode()
    await advertiser.start()
    found: list[str | None] = []
    try:
        for _ in range(20 if others else 1):  # bounded
            found.append(await find_hub(10.0, interfaces=[LOOPBACK]))
            if found[-1] == ours:
                break
    finally:
        await advertiser.stop()
        listener.close()
    assert found[-1] == ours, f"found {found}; other hubs seen before: {sorted(others)}"


async def test_a_hub_that_stopped_advertising_is_not_found() -> None:
    skip_without_multicast()
    other = await find_hub(1.0, interfaces=[LOOPBACK])
    if other is not None:
        reason = f"another hub ({other}) is advertised on 127.0.0.1"
        print(f"skipping: {reason}")
        pytest.skip(reason)
    advertiser = Advertiser(name=f"test hub {uuid.uuid4().hex[:8]}", host=LOOPBACK, port=9)
    await advertiser.start()
    await advertiser.stop()  # unregistering says goodbye: browsers forget it
    assert await find_hub(0.5, interfaces=[LOOPBACK]) is None


FINGERPRINT = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("properties", "pin", "suits"),
    [
        ({b"scheme": b"https", b"fingerprint": FINGERPRINT.encode()}, FINGERPRINT, True),
        ({b"scheme": b"https", b"fingerprint": FINGERPRINT.upper().encode()}, FINGERPRINT, True),
        ({b"scheme": b"https", b"fingerprint": b"sha256:" + b"cd" * 32}, FINGERPRINT, False),
        ({b"scheme": b"http"}, FINGERPRINT, False),  # a pinned node wants its https hub
        ({b"scheme": b"http"}, None, True),
        ({b"scheme": b"https", b"fingerprint": FINGERPRINT.encode()}, None, True),
    ],
)
def test_a_pinned_node_takes_only_the_advert_of_its_hub(
    properties: dict[bytes, bytes | None], pin: str | None, suits: bool
) -> None:
    assert advertises(properties, pin) is suits


def test_a_tls_hub_advertises_its_scheme_and_fingerprint() -> None:
    plain = Advertiser(name="plain", host=LOOPBACK, port=7310)
    secure = Advertiser(
        name="secure", host=LOOPBACK, port=7310, scheme="https", fingerprint=FINGERPRINT
    )

    assert plain.info.properties[b"scheme"] == b"http"
    assert b"fingerprint" not in plain.info.properties
    assert secure.info.properties[b"scheme"] == b"https"
    assert secure.info.properties[b"fingerprint"] == FINGERPRINT.encode()
    url = hub_url(secure.info.addresses, 7310, secure.info.properties)
    assert url == f"https://{LOOPBACK}:7310"


async def test_a_pinned_node_finds_the_hub_with_its_fingerprint_and_no_other() -> None:
    skip_without_multicast()
    listener = socket.create_server((LOOPBACK, 0))
    port = listener.getsockname()[1]
    advertiser = Advertiser(
        name=f"test hub {uuid.uuid4().hex[:8]}",
        host=LOOPBACK,
        port=port,
        scheme="https",
        fingerprint=FINGERPRINT,
    )
    await advertiser.start()
    try:
        found = await find_hub(10.0, interfaces=[LOOPBACK], fingerprint=FINGERPRINT)
        other = await find_hub(1.0, interfaces=[LOOPBACK], fingerprint="sha256:" + "cd" * 32)
    finally:
        await advertiser.stop()
        listener.close()
    assert found == f"https://{LOOPBACK}:{port}"
    assert other is None


async def test_a_browse_for_every_hub_hears_each_once() -> None:
    skip_without_multicast()
    listeners = [socket.create_server((LOOPBACK, 0)) for _ in range(2)]
    ports = [listener.getsockname()[1] for listener in listeners]
    advertisers = [
        Advertiser(name=f"test hub {uuid.uuid4().hex[:8]}", host=LOOPBACK, port=port)
        for port in ports
    ]
    for advertiser in advertisers:
        await advertiser.start()
    try:
        found = await browse(10.0, interfaces=[LOOPBACK], settle=2.0)
    finally:
        for advertiser in advertisers:
            await advertiser.stop()
        for listener in listeners:
            listener.close()
    urls = [advert.url for advert in found]
    assert len(urls) == len(set(urls))  # others' hubs may answer too, but each only once
    assert {f"http://{LOOPBACK}:{port}" for port in ports} <= set(urls)
    names = {advert.url: advert.name for advert in found}
    assert names[f"http://{LOOPBACK}:{ports[0]}"].startswith("test hub ")


async def test_two_hubs_of_one_name_on_one_machine_are_both_announced() -> None:
    skip_without_multicast()
    listeners = [socket.create_server((LOOPBACK, 0)) for _ in range(2)]
    ports = [listener.getsockname()[1] for listener in listeners]
    name = f"test hub {uuid.uuid4().hex[:8]}"
    advertisers = [Advertiser(name=name, host=LOOPBACK, port=port) for port in ports]
    try:
        for advertiser in advertisers:
            await advertiser.start()
        found = await browse(10.0, interfaces=[LOOPBACK], settle=2.0)
    finally:
        for advertiser in advertisers:
            await advertiser.stop()
        for listener in listeners:
            listener.close()
    names = {advert.url: advert.name for advert in found}
    first, second = (names.get(f"http://{LOOPBACK}:{port}") for port in ports)
    assert first is not None and second is not None, names
    assert first.startswith(name) and second.startswith(name) and first != second
