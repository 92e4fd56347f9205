"""Whether multicast loops back on 127.0.0.1 here: mDNS tests run on loopback and skip, saying
why, where it does not (some containers and CI runners)."""

from __future__ import annotations

import select
import socket
import struct

LOOPBACK = "127.0.0.1"


def multicast_on_loopback() -> str | None:
    """Why multicast cannot loop back on 127.0.0.1 here, or None when it can."""
    group = "224.0.0.251"
    try:
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender,
        ):
            receiver.bind(("", 0))
            port = receiver.getsockname()[1]
            membership = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(LOOPBACK))
            receiver.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
            sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(LOOPBACK))
            sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            sender.sendto(b"witengine", (group, port))
            ready, _, _ = select.select([receiver], [], [], 5.0)
            if not ready:
                return "a multicast datagram sent on 127.0.0.1 did not come back within 5 s"
            return None
    except OSError as error:
        return f"multicast on 127.0.0.1 is not possible here: {error}"
