"""The socket a hub listens on: its connections send small writes at once (no Nagle)."""

from __future__ import annotations

import asyncio
import socket

from witengine.hub.serving import tcp_listener


async def nodelay_of_accepted(listener: socket.socket) -> int:
    accepted: asyncio.Queue[int] = asyncio.Queue()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        await accepted.put(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_connection, sock=listener)
    async with server:
        port = listener.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        value = await asyncio.wait_for(accepted.get(), 10)
        writer.close()
    return value


async def test_a_hubs_connections_turn_nagles_algorithm_off() -> None:
    # Else an answer on a kept-alive connection, head and body written apart, waits ~40 ms for
    # the client's delayed ACK: an idle hub answered /health in 44 ms, not 1.
    assert await nodelay_of_accepted(tcp_listener(("127.0.0.1", 0))) != 0


async def test_create_servers_socket_alone_leaves_it_on() -> None:
    # Why tcp_listener exists: asyncio turns it off only on sockets that say IPPROTO_TCP.
    assert await nodelay_of_accepted(socket.create_server(("127.0.0.1", 0))) == 0
