"""Running scripts in tests: a library with the compute plugin and a small render plugin, the
in-process executor, a fake clock, and every event the job emitted."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import pytest

from witengine.lang.checker import CheckedJob, check_source
from witengine.plugins import compute
from witengine.plugins.api import Plugin
from witengine.plugins.registry import build_library
from witengine.protocol.events import (
    JobEvent,
    JobFinished,
    StatementStarted,
    TraceLogged,
    ValuesReturned,
)
from witengine.protocol.states import JobStatus
from witengine.runtime.blobs import LocalBlobStore
from witengine.runtime.budget import Budget
from witengine.runtime.context import ActivityContext
from witengine.runtime.control import JobControl
from witengine.runtime.interpreter import Interpreter, JobOutcome
from witengine.runtime.library import Json, Library
from witengine.testing.clock import FakeClock
from witengine.testing.executors import InlineExecutor

# ------------------------------------------------- a render plugin for the first example

render = Plugin("render-test", version="1.0")


@render.type("Frame", accepts=("Int", "Long", "String"))
@dataclass(frozen=True)
class Frame:
    number: int

    @classmethod
    def from_value(cls, value: Any) -> Self:
        return cls(int(value))

    def to_json(self) -> Json:
        return self.number

    @classmethod
    def from_json(cls, data: Json) -> Self:
        return cls(int(data))


@render.type("Image", accepts=("String",))
@dataclass(frozen=True)
class Image:
    name: str

    @classmethod
    def from_value(cls, value: Any) -> Self:
        return cls(str(value))

    def to_json(self) -> Json:
        return self.name

    @classmethod
    def from_json(cls, data: Json) -> Self:
        return cls(str(data))


@render.type("Video", accepts=("String",))
@dataclass(frozen=True)
class Video:
    frames: tuple[str, ...]

    @classmethod
    def from_value(cls, value: Any) -> Self:
        return cls(tuple(str(value).split("|")))

    def to_json(self) -> Json:
        return list(self.frames)

    @classmethod
    def from_json(cls, data: Json) -> Self:
        return cls(tuple(data))


@render.activity("Renderer.RenderFrame")
def render_frame(frame: Frame) -> Image:
    """An image named after its frame."""
    return Image(f"frame-{frame.number:03d}.png")


@render.activity("Video.Compose")
def compose(images: list[Image]) -> Video:
    """A video of the images, in the order given."""
    return Video(tuple(image.name for image in images))


# ------------------------------------------------------------------------ running


@dataclass
class Run:
    """A finished job: its outcome and, in order, every event it emitted."""

    outcome: JobOutcome
    events: list[JobEvent]
    executor: InlineExecutor
    clock: FakeClock

    @property
    def status(self) -> JobStatus:
        return self.outcome.status

    @property
    def error(self) -> str | None:
        return self.outcome.error

    @property
    def variables(self) -> dict[str, Any]:
        return self.outcome.variables

    def traces(self) -> list[str]:
        return [e.message for e in self.events if isinstance(e, TraceLogged)]

    def returned(self) -> list[list[Any]]:
        return [e.values for e in self.events if isinstance(e, ValuesReturned)]

    def started_lines(self) -> list[int]:
        return [e.line for e in self.events if isinstance(e, StatementStarted)]

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


@dataclass
class Runner:
    """Checks and runs scripts against the test library, one fresh executor per job."""

    library: Library
    context: ActivityContext
    filename: str = "test.wit"

    def check(self, source: str) -> CheckedJob:
        text = textwrap.dedent(source).strip() + "\n"
        return check_source(text, self.library, self.filename)

    def interpreter(
        self,
        source: str,
        events: list[JobEvent],
        *,
        clock: FakeClock,
        control: JobControl | None = None,
        on_event: Callable[[JobEvent], None] | None = None,
        budget: Budget | None = None,
    ) -> tuple[Interpreter, InlineExecutor]:
        executor = InlineExecutor(self.library, self.context)

        def sink(event: JobEvent) -> None:
            events.append(event)
            if on_event is not None:
                on_event(event)

        interpreter = Interpreter(
            self.check(source),
            self.library,
            executor,
            events=sink,
            clock=clock,
            control=control,
            context=self.context,
            budget=budget,
        )
        return interpreter, executor

    async def __call__(
        self,
        source: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        clock: FakeClock | None = None,
        control: JobControl | None = None,
        on_event: Callable[[JobEvent], None] | None = None,
        budget: Budget | None = None,
    ) -> Run:
        """Run a job to its end, in a task of its own (as the hub and the CLI do)."""
        clock = clock or FakeClock(autojump=True)
        events: list[JobEvent] = []
        interpreter, executor = self.interpreter(
            source, events, clock=clock, control=control, on_event=on_event, budget=budget
        )
        outcome = await asyncio.create_task(interpreter.run(arguments or {}))
        assert isinstance(events[-1], JobFinished), "a job's last event is JobFinished"
        assert events[-1] == JobFinished(status=outcome.status, error=outcome.error)
        return Run(outcome, events, executor, clock)


@pytest.fixture(scope="session")
def library() -> Library:
    return build_library([compute.plugin, render])


@pytest.fixture
def run(library: Library, tmp_path: Path) -> Runner:
    work = tmp_path / "work"
    work.mkdir()
    return Runner(library, ActivityContext(LocalBlobStore(tmp_path / "blobs"), work))
