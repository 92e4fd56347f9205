"""Which client addresses may ask to join without a token: the local network's, exactly."""

from __future__ import annotations

import pytest

from witengine.hub.auth.lan import lan_refusal


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "10.255.255.254",
        "172.16.0.1",
        "172.31.255.254",
        "192.168.0.1",
        "192.168.255.254",
        "169.254.1.1",  # link-local (no DHCP server)
        "127.0.0.1",
        "127.8.9.10",
        "::1",
        "fc00::1",  # unique local
        "fd00:abcd::42",
        "fe80::1",  # link-local
        "fe80::1%eth0",  # with its zone, as some servers give it
        "febf:ffff::1",
        "::ffff:192.168.1.7",  # IPv4-mapped: the IPv4 address it carries counts
        "::ffff:10.0.0.3",
        "::ffff:127.0.0.1",
    ],
)
def test_an_address_of_the_local_network_may_ask(address: str) -> None:
    assert lan_refusal(address) is None


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "172.15.255.255",  # just outside 172.16.0.0/12
        "172.32.0.1",
        "192.169.0.1",
        "100.64.0.1",  # carrier-grade NAT: shared with an ISP's other customers
        "100.127.255.254",
        "192.0.2.1",  # documentation: is_private says yes, no LAN uses it
        "198.18.0.1",  # benchmarking
        "240.0.0.1",  # reserved
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.251",  # multicast
        "2001:4860:4860::8888",
        "2001:db8::1",  # documentation
        "2002:c0a8:0101::1",  # 6to4 of 192.168.1.1: from beyond the LAN
        "64:ff9b::c0a8:0101",  # NAT64 of 192.168.1.1
        "fec0::1",  # site-local, deprecated
        "ff02::fb",  # multicast
        "::",
        "::ffff:8.8.8.8",
    ],
)
def test_any_other_address_is_refused_saying_why(address: str) -> None:
    refusal = lan_refusal(address)
    assert refusal is not None
    assert "is not a private or link-local address" in refusal
    assert refusal.endswith(
        "elsewhere, enrol it with a join token (wit token create --role node on the hub's "
        "machine, then wit node --token …)"
    )


@pytest.mark.parametrize("address", ["", "testclient", "not-an-address", "192.168.1"])
def test_an_address_the_hub_cannot_read_is_refused(address: str) -> None:
    assert lan_refusal(address) == (
        f"the hub cannot tell this client's address ({address or 'none'})"
    )
