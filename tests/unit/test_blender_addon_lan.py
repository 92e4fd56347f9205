"""The add-on's "Find on the LAN" (standard library only, run outside Blender): its one mDNS
question answered by a real hub advertisement (witengine.hub.discovery.Advertiser, zeroconf) on
the loopback interface, skipped saying why where multicast cannot loop back; and its reading of
DNS packets that zeroconf itself builds from the hub's records (those run everywhere)."""

from __future__ import annotations

import asyncio
import socket
import struct
import uuid

import pytest
from zeroconf import DNSOutgoing, const

from witengine.hub.discovery import SERVICE_TYPE, Advertiser
from witengine.testing.addon import load_lan
from witengine.testing.multicast import LOOPBACK, multicast_on_loopback

lan = load_lan()
FINGERPRINT = "sha256:" + "ab" * 32


def answer(*advertisers: Advertiser, addresses: bool = True) -> bytes:
    """The response packet zeroconf makes for the hubs' records: PTR as answers, SRV, TXT and
    A as additional records, names compressed."""
    out = DNSOutgoing(const._FLAGS_QR_RESPONSE | const._FLAGS_AA)
    for advertiser in advertisers:
        info = advertiser.info
        out.add_answer_at_time(info.dns_pointer(), 0)
        out.add_additional_answer(info.dns_service())
        out.add_additional_answer(info.dns_text())
        for record in info.dns_addresses() if addresses else []:
            out.add_additional_answer(record)
    (packet,) = out.packets()
    return packet


def test_the_question_is_one_ptr_query_for_the_hubs_service() -> None:
    assert lan.SERVICE == SERVICE_TYPE
    packet = lan.query()
    assert packet[:12] == struct.pack("!HHHHHH", 0, 0, 1, 0, 0, 0)
    assert packet[12:] == b"\x0a_witengine\x04_tcp\x05local\x00" + struct.pack("!HH", 12, 1)


def test_hubs_are_read_from_the_records_zeroconf_answers_with() -> None:
    plain = Advertiser(name="studio", host="192.168.1.20", port=8765)
    secure = Advertiser(
        name="secure", host="10.0.0.5", port=7443, scheme="https", fingerprint=FINGERPRINT
    )

    found = lan.hubs([answer(plain), answer(plain)])  # heard twice: found once
    (tls,) = lan.hubs([answer(secure)])

    assert [(f.url, f.fingerprint) for f in found] == [("http://192.168.1.20:8765", "")]
    assert found[0].name == f"studio on {socket.gethostname()}"
    assert (tls.url, tls.fingerprint) == ("https://10.0.0.5:7443", FINGERPRINT)


def test_an_advert_without_an_address_and_a_strangers_packets_are_passed_over() -> None:
    hub = Advertiser(name="hub", host="192.168.1.20", port=8765)
    loop = b"\0" * 4 + struct.pack("!HHHH", 0, 1, 0, 0) + b"\xc0\x0c"  # a name pointing at itself

    assert lan.hubs([answer(hub, addresses=False)]) == []
    assert lan.hubs([b"", b"\xff" * 11, loop, answer(hub)])[0].url == "http://192.168.1.20:8765"
    with pytest.raises(lan.PacketError, match="loop"):
        lan.records(loop)
    with pytest.raises(lan.PacketError, match="12-byte header"):
        lan.records(b"\xff" * 11)
    with pytest.raises(lan.PacketError, match="past the packet's end"):
        lan.records(answer(hub)[:-3])


async def test_the_add_on_finds_a_hub_advertised_on_the_loopback_interface() -> None:
    reason = multicast_on_loopback()
    if reason is not None:
        print(f"skipping: {reason}")
        pytest.skip(reason)
    listener = socket.create_server((LOOPBACK, 0))  # a port no one else uses
    port = listener.getsockname()[1]
    advertiser = Advertiser(
        name=f"test hub {uuid.uuid4().hex[:8]}",
        host=LOOPBACK,
        port=port,
        scheme="https",
        fingerprint=FINGERPRINT,
    )
    await advertiser.start()
    try:  # in a thread: the advert answers from this event loop meanwhile
        found = await asyncio.to_thread(lan.find, 5.0, LOOPBACK)
    finally:
        await advertiser.stop()
        listener.close()
    ours = [f for f in found if f.url == f"https://{LOOPBACK}:{port}"]  # others' hubs may answer
    assert ours and ours[0].fingerprint == FINGERPRINT, found
    assert ours[0].name.startswith("test hub ")
