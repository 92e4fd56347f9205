"""The fault-injection TCP proxy: bytes pass through unchanged, and delays, stalls, cuts and
drops happen when the schedule says. An echo server on 127.0.0.1 stands for the hub."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from witengine.testing.proxy import Fault, FaultSchedule, TcpProxy

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def echo_port() -> AsyncIterator[int]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


async def round_trip(port: int, payload: bytes) -> tuple[bytes, float]:
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    await writer.drain()
    writer.write_eof()
    received = await asyncio.wait_for(reader.read(-1), 10)
    writer.close()
    return received, time.monotonic() - started


async def test_bytes_pass_through_unchanged_both_ways(echo_port: int) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB, several chunks
    with TcpProxy(echo_port) as proxy:
        received, _ = await round_trip(proxy.port, payload)
    assert received == payload
    assert proxy.connections == 1


async def test_a_delay_holds_each_chunk_back(echo_port: int) -> None:
    with TcpProxy(echo_port, FaultSchedule((Fault(0.0, "delay", 5.0, ms=200),))) as proxy:
        await asyncio.sleep(0.05)
        received, seconds = await round_trip(proxy.port, b"hello")
    assert received == b"hello"
    assert seconds >= 0.4  # once each way


async def test_a_stall_passes_nothing_until_it_ends_then_everything(echo_port: int) -> None:
    with TcpProxy(echo_port, FaultSchedule((Fault(0.0, "stall", 1.0),))) as proxy:
        await asyncio.sleep(0.05)
        started = time.monotonic()
        received, _ = await round_trip(proxy.port, b"x" * 200_000)
    assert received == b"x" * 200_000
    assert time.monotonic() - started >= 0.8


async def test_a_cut_resets_open_connections_and_later_ones_pass(echo_port: int) -> None:
    with TcpProxy(echo_port, FaultSchedule((Fault(0.5, "cut"),))) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(reader.readexactly(1), 5)  # cut while waiting
        writer.close()
        received, _ = await round_trip(proxy.port, b"again")
    assert received == b"again"
    assert proxy.applied == ["0.5s cut (1 connection(s) open)"]


async def test_a_drop_loses_what_was_sent_during_it_and_resets_the_connection(
    echo_port: int,
) -> None:
    with TcpProxy(echo_port, FaultSchedule((Fault(0.3, "drop", 0.7),))) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
        await asyncio.sleep(0.5)  # within the drop
        writer.write(b"lost")
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await asyncio.wait_for(reader.readexactly(1), 5)
        writer.close()
        received, _ = await round_trip(proxy.port, b"again")
    assert received == b"again"
    assert proxy.applied == ["0.3s drop for 0.7s (1 connection(s) open)"]


def test_a_seeded_schedule_repeats_has_every_kind_and_ends() -> None:
    one = FaultSchedule.seeded(7, rounds=5)
    assert one == FaultSchedule.seeded(7, rounds=5)
    assert one != FaultSchedule.seeded(8, rounds=5)
    assert {f.kind for f in one.faults} == {"delay", "stall", "cut"}
    starts = [f.at for f in one.faults]
    assert starts == sorted(starts)
    assert one.end == max(f.at + f.seconds for f in one.faults) < 5 * (5.0 + 3.5) + 1
