"""Which client addresses count as the local network, for nodes asking to join without a token
(`wit hub --approve-lan`).

Exactly these networks, written out rather than taken from `ipaddress`'s `is_private`, which
also holds documentation, benchmarking and reserved ranges (192.0.2.0/24, 198.18.0.0/15,
2001:db8::/32, 240.0.0.0/4, …) that no LAN uses:

- IPv4: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (RFC 1918), 169.254.0.0/16 (link-local),
  127.0.0.0/8 (loopback);
- IPv6: fc00::/7 (unique local), fe80::/10 (link-local), ::1 (loopback);
- an IPv4-mapped IPv6 address (`::ffff:192.168.1.5`, as a dual-stack socket shows an IPv4
  client) is judged by the IPv4 address it carries. Other forms that embed an IPv4 address
  (6to4, Teredo, NAT64) come from beyond the LAN and are refused.

Not 100.64.0.0/10 (RFC 6598, carrier-grade NAT): its addresses are shared with the other
customers of an ISP (and used by overlay networks such as Tailscale), so an address there says
nothing about being on this network; such nodes enrol with a join token.

The address judged is the connection's peer, or the client a trusted proxy names
(`--trusted-proxy`): a client cannot choose it with `X-Forwarded-For`. Pure: no I/O.
"""

from __future__ import annotations

import ipaddress

LAN_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "169.254.0.0/16",
        "127.0.0.0/8",
        "fc00::/7",
        "fe80::/10",
        "::1/128",
    )
)


def lan_refusal(address: str) -> str | None:
    """Why a node at `address` may not ask to join without a token; None when it may (the
    address is on the local network, as above)."""
    try:
        parsed = ipaddress.ip_address(address.split("%", 1)[0])  # fe80::1%eth0: the zone aside
    except ValueError:
        return f"the hub cannot tell this client's address ({address or 'none'})"
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    if any(parsed in network for network in LAN_NETWORKS):
        return None
    return (
        f"{parsed} is not a private or link-local address: a node asks to join without a token "
        "only from the hub's local network; elsewhere, enrol it with a join token (wit token "
        "create --role node on the hub's machine, then wit node --token …)"
    )
