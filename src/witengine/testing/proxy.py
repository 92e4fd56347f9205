"""A TCP proxy for fault-injection tests: it delays, stalls and cuts connections on a seeded
schedule. Loopback only, bounded in time.

It works on bytes, not on HTTP or WebSocket frames, so whatever runs over TCP passes through it
unchanged (WebSockets today, TLS later); the faults are those of a bad network:

- `delay`: every chunk waits `ms` milliseconds before it is passed on (in order);
- `stall`: nothing is passed on either way for a while (packets dropped and retransmitted, as
  far as the two ends can tell); what was sent meanwhile follows once it ends;
- `cut`: every open connection is closed at once (a reset), as when a link or a NAT drops it;
- `drop`: a stall that ends in a cut: what was sent meanwhile is lost, never delivered, as when a
  link goes dead and TCP gives up on it.

The schedule (`FaultSchedule.seeded`) is a list of faults at fixed offsets from the moment the
proxy is armed (at its start, or later with `arm()` once the clients are connected), drawn from
a seed so a failing run can be repeated; after its last fault the proxy passes
everything through cleanly, so the work under test can finish. The proxy runs its own event loop
in a thread, so synchronous tests can use it as a context manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal["delay", "stall", "cut", "drop"]
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Fault:
    """One fault: `kind` starts `at` seconds after the proxy does and lasts `seconds`."""

    at: float
    kind: FaultKind
    seconds: float = 0.0  # delay, stall and drop: how long; cut: instant
    ms: float = 0.0  # delay: per chunk

    def __str__(self) -> str:
        if self.kind == "delay":
            return f"{self.at:.1f}s delay {self.ms:.0f} ms for {self.seconds:.1f}s"
        if self.kind in ("stall", "drop"):
            return f"{self.at:.1f}s {self.kind} for {self.seconds:.1f}s"
        return f"{self.at:.1f}s cut"


@dataclass(frozen=True)
class FaultSchedule:
    faults: tuple[Fault, ...]

    @property
    def end(self) -> float:
        """Seconds after the start when the last fault is over."""
        return max((f.at + f.seconds for f in self.faults), default=0.0)

    @classmethod
    def seeded(
        cls,
        seed: int,
        *,
        start: float = 1.0,
        rounds: int = 6,
        gap: tuple[float, float] = (1.5, 3.5),
        stall: tuple[float, float] = (0.5, 5.0),
        delay_ms: tuple[float, float] = (20.0, 200.0),
    ) -> FaultSchedule:
        """`rounds` faults, each kind at least once, `gap` seconds apart, from `start` on."""
        rng = random.Random(seed)
        kinds: list[FaultKind] = ["delay", "stall", "cut"]
        kinds += [rng.choice(kinds) for _ in range(max(0, rounds - len(kinds)))]
        rng.shuffle(kinds)
        faults, at = [], start
        for kind in kinds[:rounds]:
            if kind == "cut":
                faults.append(Fault(at, "cut"))
            elif kind == "stall":
                faults.append(Fault(at, "stall", rng.uniform(*stall)))
            else:
                faults.append(Fault(at, "delay", rng.uniform(*stall), rng.uniform(*delay_ms)))
            at += faults[-1].seconds + rng.uniform(*gap)
        return cls(tuple(faults))


@dataclass
class _Conditions:
    """What the pumps obey now; changed by the schedule."""

    delay: float = 0.0  # seconds per chunk
    resume: asyncio.Event = field(default_factory=asyncio.Event)  # set while not stalled

    def __post_init__(self) -> None:
        self.resume.set()


class TcpProxy:
    """Listens on 127.0.0.1 and passes each connection on to `target_port`, with faults."""

    def __init__(self, target_port: int, schedule: FaultSchedule | None = None) -> None:
        self.target_port = target_port
        self.schedule = schedule or FaultSchedule(())
        self.port = 0
        self.applied: list[str] = []  # each fault as it was applied, with the connections it hit
        self.connections = 0  # accepted so far
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._arm_at_start = True
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._armed: asyncio.Event | None = None
        self._started = 0.0  # when it was armed

    # ------------------------------------------------------------ control

    def start(self, *, armed: bool = True) -> int:
        """Start listening; the port to give the clients. Unless `armed`, faults wait for
        `arm()` and connections pass cleanly until then."""
        self._arm_at_start = armed
        self._thread = threading.Thread(target=self._main, name="tcp-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the TCP proxy did not start within 10 s")
        if self._error is not None:
            raise RuntimeError(f"the TCP proxy did not start: {self._error}")
        return self.port

    def arm(self) -> None:
        """Start the schedule now."""
        if self._loop is not None and self._armed is not None:
            self._loop.call_soon_threadsafe(self._armed.set)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    @property
    def faults_over(self) -> bool:
        return self._started > 0 and time.monotonic() - self._started >= self.schedule.end

    def __enter__(self) -> TcpProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --------------------------------------------------------------- loop

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # reported to start(), never lost in the thread
            self._error = error
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._armed = asyncio.Event()
        if self._arm_at_start:
            self._armed.set()
        conditions = _Conditions()
        links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()

        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                up_reader, up_writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", self.target_port), 10
                )
            except (OSError, TimeoutError):
                _reset(writer)
                return
            pair = (writer, up_writer)
            links.add(pair)
            try:
                await asyncio.gather(
                    _pump(reader, up_writer, writer, conditions),
                    _pump(up_reader, writer, up_writer, conditions),
                )
            finally:
                links.discard(pair)
                writer.close()  # both ways ended (or were reset): a clean close of what is left
                up_writer.close()

        server = await asyncio.start_server(accepted, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        faults = asyncio.create_task(self._apply(conditions, links))
        try:
            await self._stop.wait()
        finally:
            faults.cancel()
            server.close()
            _cut(links)
            with contextlib.suppress(asyncio.CancelledError):
                await faults

    async def _apply(
        self,
        conditions: _Conditions,
        links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]],
    ) -> None:
        assert self._armed is not None
        await self._armed.wait()
        self._started = time.monotonic()
        for fault in sorted(self.schedule.faults, key=lambda f: f.at):
            await asyncio.sleep(max(0.0, self._started + fault.at - time.monotonic()))
            self.applied.append(f"{fault} ({len(links)} connection(s) open)")
            if fault.kind == "cut":
                _cut(links)
            elif fault.kind in ("stall", "drop"):  # what arrives meanwhile waits in the pumps
                conditions.resume.clear()
                await asyncio.sleep(fault.seconds)
                if fault.kind == "drop":  # and goes down with them
                    _cut(links)
                conditions.resume.set()
            else:
                conditions.delay = fault.ms / 1000
                await asyncio.sleep(fault.seconds)
                conditions.delay = 0.0


async def _pump(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    source: asyncio.StreamWriter,
    conditions: _Conditions,
) -> None:
    """Pass bytes one way until the sender closes; obey stalls and delays on the way. A reset
    on either side resets both, so the other direction's pump ends too."""
    try:
        while chunk := await reader.read(CHUNK):
            await conditions.resume.wait()
            if conditions.delay:
                await asyncio.sleep(conditions.delay)
            if writer.is_closing():
                _reset(source)
                return
            writer.write(chunk)
            await writer.drain()
    except OSError:
        _reset(source)
        _reset(writer)
        return
    # One side finished sending: pass the half-close on, as TCP would.
    with contextlib.suppress(OSError, RuntimeError):
        if not writer.is_closing() and writer.can_write_eof():
            writer.write_eof()


def _cut(links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]]) -> None:
    for pair in list(links):
        for writer in pair:
            _reset(writer)


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close a connection abruptly (RST, not FIN), as a dropped link looks to its ends."""
    if writer.is_closing():
        return
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
