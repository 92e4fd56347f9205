"""Finding witengine hubs on the local network for the add-on: one mDNS question, standard
library only (Blender's Python has no zeroconf).

It sends one query for the hubs' service (`_witengine._tcp.local.`, a PTR question) to the
mDNS group from a port of its own, so responders answer it directly (RFC 6762's one-shot
query), and reads the records in their answers: PTR (the hub's instance), SRV (its port and
host), TXT (its scheme and, over https, its certificate's fingerprint) and A (its address). An
answer only suggests an address: a pinned fingerprint, not the advert, decides whom the add-on
trusts. It imports neither witengine nor `bpy`, so the tests run it outside Blender.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from dataclasses import dataclass

SERVICE = "_witengine._tcp.local."
GROUP = ("224.0.0.251", 5353)
SETTLE_SECONDS = 0.5  # after the first answer, how long others may still come
A, PTR, TXT, SRV = 1, 12, 16, 33
CLASS_IN = 1
MAX_POINTERS = 64  # a name's compression pointers followed at most (a loop is refused)


class PacketError(ValueError):
    """A DNS packet that cannot be read; the message says where."""


@dataclass(frozen=True)
class Found:
    """A hub as it advertises itself: its instance name, URL and (https) fingerprint."""

    name: str
    url: str
    fingerprint: str = ""


def query(service: str = SERVICE, ident: int = 0) -> bytes:
    """The mDNS question for the service's instances (PTR)."""
    header = struct.pack("!HHHHHH", ident, 0, 1, 0, 0, 0)
    return header + _encode(service) + struct.pack("!HH", PTR, CLASS_IN)


def _encode(name: str) -> bytes:
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode()
        if not 0 < len(raw) < 64:
            raise PacketError(f"the name {name!r} has a label of {len(raw)} bytes")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def _name(packet: bytes, offset: int) -> tuple[str, int]:
    """The (possibly compressed) name at `offset`, and the offset after it."""
    labels: list[str] = []
    end = None
    for _ in range(MAX_POINTERS):
        if offset >= len(packet):
            raise PacketError(f"a name runs past the packet's end at byte {offset}")
        length = packet[offset]
        if length == 0:
            return ".".join(labels) + ".", end if end is not None else offset + 1
        if length & 0xC0 == 0xC0:  # a pointer to a name earlier in the packet
            if offset + 1 >= len(packet):
                raise PacketError(f"a name's pointer is cut off at byte {offset}")
            end = end if end is not None else offset + 2
            offset = ((length & 0x3F) << 8) | packet[offset + 1]
            continue
        label = packet[offset + 1 : offset + 1 + length]
        if len(label) < length:
            raise PacketError(f"a name's label runs past the packet's end at byte {offset}")
        labels.append(label.decode(errors="replace"))
        offset += 1 + length
    raise PacketError("a name's pointers go round in a loop")


def records(packet: bytes) -> list[tuple[str, int, object]]:
    """Every resource record of a DNS packet as (name, type, data): a PTR's target, an SRV's
    (port, host), a TXT's {key: value}, an A's address; other types' raw bytes."""
    if len(packet) < 12:
        raise PacketError(f"a DNS packet has a 12-byte header, not {len(packet)} bytes")
    _, _, questions, *counts = struct.unpack("!HHHHHH", packet[:12])
    offset = 12
    for _ in range(questions):
        offset = _name(packet, offset)[1] + 4
    found: list[tuple[str, int, object]] = []
    for _ in range(sum(counts)):
        name, offset = _name(packet, offset)
        if offset + 10 > len(packet):
            raise PacketError(f"a record of {name} is cut off at byte {offset}")
        kind, _, _, length = struct.unpack("!HHIH", packet[offset : offset + 10])
        start, offset = offset + 10, offset + 10 + length
        if offset > len(packet):
            raise PacketError(f"the data of a record of {name} runs past the packet's end")
        found.append((name.lower(), kind, _data(packet, kind, start, offset)))
    return found


def _data(packet: bytes, kind: int, start: int, end: int) -> object:
    raw = packet[start:end]
    if kind == PTR:
        return _name(packet, start)[0].lower()
    if kind == SRV and len(raw) >= 7:
        return struct.unpack("!H", raw[4:6])[0], _name(packet, start + 6)[0].lower()
    if kind == A and len(raw) == 4:
        return socket.inet_ntoa(raw)
    if kind == TXT:
        texts, at = {}, 0
        while at < len(raw):
            entry = raw[at + 1 : at + 1 + raw[at]].decode(errors="replace")
            key, _, value = entry.partition("=")
            texts[key.lower()] = value
            at += 1 + raw[at]
        return texts
    return raw


def hubs(packets: list[bytes], service: str = SERVICE) -> list[Found]:
    """The hubs the answers describe whole (an instance with its port and an IPv4 address),
    each once, in the order heard; packets that cannot be read are passed over."""
    heard: list[tuple[str, int, object]] = []
    for packet in packets:
        try:
            heard += records(packet)
        except PacketError:
            continue  # a stranger's packet on the group: not ours to judge
    instances = [d for n, k, d in heard if k == PTR and n == service.lower()]
    services = {n: d for n, k, d in heard if k == SRV}
    texts = {n: d for n, k, d in heard if k == TXT}
    addresses: dict[str, object] = {}
    for name, kind, data in heard:
        if kind == A:
            addresses.setdefault(name, data)  # a host's first address heard
    found: dict[str, Found] = {}
    for instance in dict.fromkeys(str(i) for i in instances):
        srv = services.get(instance)
        if not isinstance(srv, tuple) or srv[1] not in addresses:
            continue
        port, host = srv
        txt = texts.get(instance)
        txt = txt if isinstance(txt, dict) else {}
        scheme = "https" if txt.get("scheme") == "https" else "http"
        url = f"{scheme}://{addresses[host]}:{port}"
        label = instance.removesuffix("." + service.lower())
        found.setdefault(url, Found(label, url, txt.get("fingerprint", "")))
    return list(found.values())


def find(timeout: float = 2.0, interface: str = "", service: str = SERVICE) -> list[Found]:
    """The hubs that answer one mDNS question within `timeout` seconds (waiting a little
    after the first for others); `interface`: the IPv4 address to ask from (default: the
    system's choice). Blocks for at most `timeout` seconds."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((interface, 0))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
        if interface:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
        sock.sendto(query(service), GROUP)
        packets: list[bytes] = []
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                break
            packets.append(sock.recv(9000))
            if hubs(packets, service):
                deadline = min(deadline, time.monotonic() + SETTLE_SECONDS)
        return hubs(packets, service)
