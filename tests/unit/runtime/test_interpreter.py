"""Every construct of the language, run by the interpreter: results, events and failures."""

from __future__ import annotations

import asyncio
import datetime as dt
import textwrap
import uuid

import pytest

from witengine.errors import ParameterError
from witengine.protocol.events import (
    JobEvent,
    JobFinished,
    JobPaused,
    JobResumed,
    ProgressReported,
    StatementFinished,
    StatementStarted,
    TraceLogged,
    ValuesReturned,
)
from witengine.protocol.states import JobStatus
from witengine.runtime.control import JobControl
from witengine.runtime.interpreter import YIELD_EVERY
from witengine.runtime.values import Color, ProcessingOptions
from witengine.scheduling.strategy import Strategy
from witengine.testing.clock import FakeClock

from .conftest import Image, Runner, Video

COMPLETED, FAILED, CANCELLED = JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED


def job(body: str, params: str = "") -> str:
    """A job around `body`; the body's first line is line 3 of the script."""
    return f"Job:Test({params})\n{{\n{textwrap.dedent(body).strip()}\n}}"


# ------------------------------------------------------------- the published example

FIRST_EXAMPLE = """Job:RenderAnimation(FrameCollection:frames)
{
~ Distribute rendering across all available machines ~
ImageCollection:images = Grid.ForEach(frame in frames)
=> Renderer.RenderFrame(frame);
Video:result = Video.Compose(images);
}
"""


async def test_the_published_example_runs_unchanged(run: Runner) -> None:
    done = await run(FIRST_EXAMPLE, {"frames": [3, 1, 2]})

    assert done.status is COMPLETED, done.error
    names = ["frame-003.png", "frame-001.png", "frame-002.png"]
    assert done.variables["images"] == [Image(n) for n in names]
    assert done.variables["result"] == Video(tuple(names))
    assert set(done.variables) == {"images", "result"}  # declared variables, not parameters
    (request,) = done.executor.requests
    assert request.activity == "Renderer.RenderFrame"
    assert request.items == [[3], [1], [2]]


# ------------------------------------------------------------ declarations and values


async def test_literals_become_the_declared_type_through_its_constructor(run: Runner) -> None:
    done = await run(
        job(
            """
            Color:c = "#3366AA";
            TimeSpan:t = "0:01:30";
            Double:d = 2;
            Long:big = 3000000000;
            Int:parsed = "42";
            Bool:yes = "true";
            Guid:g = "12345678-1234-5678-1234-567812345678";
            DateTime:when = "2026-11-23T08:30:00";
            ProcessingOptions:o = "Queued";
            """
        )
    )

    assert done.status is COMPLETED, done.error
    values = done.variables
    assert values["c"] == Color(0x33, 0x66, 0xAA)
    assert values["t"] == dt.timedelta(seconds=90)
    assert values["d"] == 2.0 and isinstance(values["d"], float)
    assert values["big"] == 3_000_000_000
    assert values["parsed"] == 42
    assert values["yes"] is True
    assert values["g"] == uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert values["when"] == dt.datetime(2026, 11, 23, 8, 30)
    assert values["o"] == ProcessingOptions(Strategy.QUEUED)


async def test_explicit_constructor_calls_make_values(run: Runner) -> None:
    done = await run(
        job(
            """
            Int:i = Int("5");
            Color:c = Color("#FFAA00");
            TimeSpan:t = TimeSpan("0:01:30");
            String:s = String(12);
            """
        )
    )

    assert done.status is COMPLETED, done.error
    assert done.variables == {
        "i": 5,
        "c": Color(255, 170, 0),
        "t": dt.timedelta(seconds=90),
        "s": "12",
    }


async def test_a_declaration_without_a_value_holds_its_types_default(run: Runner) -> None:
    done = await run(
        job(
            """
            Int:i;
            Long:l;
            Double:d;
            Bool:b;
            String:s;
            IntCollection:xs;
            Color:c;
            TimeSpan:t;
            DateTime:when;
            Guid:g;
            Double:seconds = t.TotalSeconds;
            """
        )
    )

    assert done.status is COMPLETED, done.error
    assert done.variables == {
        "i": 0,
        "l": 0,
        "d": 0.0,
        "b": False,
        "s": "",
        "xs": [],
        "c": None,
        "t": dt.timedelta(0),  # types that cannot be null start at .NET's default
        "when": dt.datetime(1, 1, 1),
        "g": uuid.UUID(int=0),
        "seconds": 0.0,
    }
    assert isinstance(done.variables["d"], float)


async def test_outcome_holds_top_level_variables_and_their_types(run: Runner) -> None:
    done = await run(
        job(
            """
            IntCollection:xs = [1, 2];
            Invoke()
            {
                Int:inner = 5;
                xs = [inner];
            }
            """
        )
    )

    assert done.variables == {"xs": [5]}
    assert str(done.outcome.types["xs"]) == "IntCollection"
    assert done.outcome.variables_json(run.library) == {"xs": [5]}


async def test_arrays_index_count_and_nest(run: Runner) -> None:
    done = await run(
        job(
            """
            IntCollection:xs = [10, 20, 30];
            Int:second = xs[1];
            Int:count = xs.Count;
            ObjectCollection:nested = [[1, 2], [3]];
            StringCollection:empty = [];
            String:word = "hello";
            String:letter = word[1];
            Int:length = word.Length;
            """
        )
    )

    assert done.status is COMPLETED, done.error
    values = done.variables
    assert (values["second"], values["count"]) == (20, 3)
    assert values["nested"] == [[1, 2], [3]]
    assert values["empty"] == []
    assert (values["letter"], values["length"]) == ("e", 5)


async def test_an_index_outside_the_collection_fails_naming_the_statement(run: Runner) -> None:
    done = await run(job("IntCollection:xs = [1];\nInt:x = xs[3];"))

    assert done.status is FAILED
    assert done.error == (
        "test.wit:4: index 3 is outside the collection of 1 items (in: Int:x = xs[3];)"
    )


async def test_an_assignment_changes_the_variable_of_the_outer_block(run: Runner) -> None:
    done = await run(
        job(
            """
            Int:x = 1;
            If(true)
            {
                If(true)
                {
                    x = x + 10;
                }
            }
            """
        )
    )

    assert done.variables["x"] == 11


async def test_storing_a_number_too_large_for_int_fails_naming_the_statement(
    run: Runner,
) -> None:
    done = await run(job('Int:x = 2147483647;\nx = x + 1;\nTrace("after");'))

    assert done.status is FAILED
    assert done.error == (
        "test.wit:4: cannot store in 'x' (Int): 2147483648 does not fit in Int "
        "(-2147483648 to 2147483647) (in: x = x + 1;)"
    )
    assert done.traces() == []
    assert done.variables["x"] == 2147483647


async def test_a_constructor_given_bad_text_fails_naming_the_statement(run: Runner) -> None:
    done = await run(job('String:s = "nope";\nColor:c = Color(s);'))

    assert done.status is FAILED
    assert done.error is not None
    assert done.error.startswith("test.wit:4: Color: 'nope' is not a colour")
    assert done.error.endswith("(in: Color:c = Color(s);)")


# ----------------------------------------------------------------------- expressions


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("7 / 2", 3),
        ("-7 / 2", -3),
        ("7 % 3", 1),
        ("-7 % 3", -1),
        ("7.0 / 2", 3.5),
        ("-(2 + 3)", -5),
        ("10 - 2 - 3", 5),
        ("1e-3 * 1000", 1.0),
        ('"a" + 1 + 2', "a12"),
        ('1 + 2 + "a"', "3a"),
        ('"x" + true', "xtrue"),
        ("1 < 2 && 2 <= 2", True),
        ("3 > 4 || 4 >= 5", False),
        ("!(1 == 1)", False),
        ("1 == 1.0", True),
        ('"abc" < "abd"', True),
        ('"a" != "b"', True),
        ("true && !false", True),
        ("Count([1, 2, 3])", 3),
        ('Count("four")', 4),
        ("Concat([1], [2, 3])", [1, 2, 3]),
        ('Concat("ab", "cd")', "abcd"),
        ('Format("{0} of {1}", 3, 10)', "3 of 10"),
        ('Format("{0:F2}|{1:D4}|{2:N0}", 3.14159, 42, 1234567)', "3.14|0042|1,234,567"),
        ('Format("{{{0}}}", 1)', "{1}"),
        ('Tuple(1, "a").Item2', "a"),
        ('"text".Length', 4),
        ("[[1, 2], [3]][0][1]", 2),
        ('TimeSpan("0:01:30").TotalSeconds', 90.0),
        ('Color("#102030").G', 0x20),
    ],
)
async def test_expressions_evaluate_as_specified(
    run: Runner, expression: str, expected: object
) -> None:
    done = await run(job(f"Object:v = {expression};"))

    assert done.status is COMPLETED, done.error
    assert done.variables["v"] == expected
    assert type(done.variables["v"]) is type(expected)


async def test_and_and_or_do_not_evaluate_their_right_side_when_the_left_decides(
    run: Runner,
) -> None:
    done = await run(
        job(
            """
            IntCollection:xs = [];
            Bool:a = xs.Count > 0 && xs[0] == 1;
            Bool:b = xs.Count == 0 || xs[0] == 1;
            """
        )
    )

    assert done.status is COMPLETED, done.error
    assert (done.variables["a"], done.variables["b"]) == (False, True)


async def test_dividing_by_zero_fails_the_job_naming_the_statement(run: Runner) -> None:
    done = await run(job("Int:zero = 0;\nInt:x = 1 / zero;"))

    assert done.status is FAILED
    assert done.error == "test.wit:4: division by zero in 1 / 0 (in: Int:x = 1 / zero;)"


async def test_null_compares_equal_only_to_null(run: Runner) -> None:
    done = await run(
        job(
            """
            Color:c;
            Bool:isNull = c == null;
            Bool:notNull = c != null;
            Object:o = 0;
            Bool:zeroIsNull = o == null;
            """
        )
    )

    assert done.status is COMPLETED, done.error
    assert done.variables["isNull"] is True
    assert done.variables["notNull"] is False
    assert done.variables["zeroIsNull"] is False


async def test_reading_a_member_of_null_fails_naming_the_statement(run: Runner) -> None:
    done = await run(job("Color:c;\nInt:r = c.R;"))

    assert done.status is FAILED
    assert done.error == "test.wit:4: cannot read 'R' of null (in: Int:r = c.R;)"


async def test_null_cannot_be_stored_in_a_number(run: Runner) -> None:
    done = await run(job("Object:o = null;\nInt:x = 1;\nx = o;"))

    assert done.status is FAILED
    assert done.error == "test.wit:5: cannot store in 'x' (Int): null cannot be a Int (in: x = o;)"


# ---------------------------------------------------------------------- control flow


@pytest.mark.parametrize(("n", "branch"), [(5, "big"), (1, "small")])
async def test_if_runs_its_block_or_else_its_else_block(run: Runner, n: int, branch: str) -> None:
    done = await run(
        job(
            """
            If(n > 3)
            {
                Trace("big");
            }
            Else
            {
                Trace("small");
            }
            If(n > 100)
            {
                Trace("never");
            }
            """,
            "Int:n",
        ),
        {"n": n},
    )

    assert done.traces() == [branch]


async def test_a_condition_from_an_object_that_is_not_a_bool_fails_the_job(run: Runner) -> None:
    done = await run(job('Object:o = "yes";\nIf(o)\n{\n}'))

    assert done.status is FAILED
    assert done.error == "test.wit:4: a condition must be true or false, found yes (in: If(o))"


async def test_loop_repeats_its_block_n_times(run: Runner) -> None:
    done = await run(
        job(
            """
            Int:count = 0;
            Loop(4)
            {
                count = count + 1;
            }
            Loop(0)
            {
                count = 100;
            }
            """
        )
    )

    assert done.variables["count"] == 4


async def test_a_negative_loop_count_fails_the_job(run: Runner) -> None:
    done = await run(job("Int:n = -1;\nLoop(n)\n{\n}"))

    assert done.status is FAILED
    assert done.error == "test.wit:4: expected a number not below 0, found -1 (in: Loop(n))"


async def test_foreach_goes_over_items_in_order(run: Runner) -> None:
    done = await run(
        job(
            """
            StringCollection:seen;
            ForEach(word in ["b", "a", "c"])
            {
                seen = Concat(seen, [word]);
            }
            ForEach(nothing in [])
            {
                Trace("never");
            }
            """
        )
    )

    assert done.variables["seen"] == ["b", "a", "c"]
    assert done.traces() == []


async def test_foreach_over_zip_exposes_tuple_items(run: Runner) -> None:
    done = await run(
        job(
            """
            TupleCollection:pairs = Zip([1, 2, 3], ["a", "b", "c"], [true, false, true]);
            ForEach(t in pairs)
            {
                If(t.Item3)
                {
                    Trace(Format("{0}{1}", t.Item1, t.Item2));
                }
            }
            """
        )
    )

    assert done.traces() == ["1a", "3c"]
    assert done.variables["pairs"] == [(1, "a", True), (2, "b", False), (3, "c", True)]


async def test_zip_stops_at_the_shortest_collection(run: Runner) -> None:
    done = await run(job('TupleCollection:pairs = Zip([1, 2, 3], ["a"]);'))

    assert done.variables["pairs"] == [(1, "a")]


async def test_reading_a_tuple_item_past_its_end_fails(run: Runner) -> None:
    done = await run(job("Object:t = Tuple(1, 2);\nTrace(t.Item3);"))

    assert done.status is FAILED
    assert done.error == "test.wit:4: this Tuple has 2 items, so no Item3 (in: Trace(t.Item3);)"


async def test_break_leaves_only_the_innermost_loop_and_continue_skips_a_round(
    run: Runner,
) -> None:
    done = await run(
        job(
            """
            StringCollection:seen;
            ForEach(i in Int.Range(0, 3))
            {
                ForEach(j in Int.Range(0, 10))
                {
                    If(j == 1)
                    {
                        Continue;
                    }
                    If(j == 3)
                    {
                        Break();
                    }
                    seen = Concat(seen, [Format("{0}{1}", i, j)]);
                }
            }
            """
        )
    )

    assert done.variables["seen"] == ["00", "02", "10", "12", "20", "22"]


async def test_break_and_continue_work_in_loop(run: Runner) -> None:
    done = await run(
        job(
            """
            Int:rounds = 0;
            Int:counted = 0;
            Loop(100)
            {
                rounds = rounds + 1;
                If(rounds == 5)
                {
                    Break;
                }
                If(rounds % 2 == 0)
                {
                    Continue;
                }
                counted = counted + 1;
            }
            """
        )
    )

    assert (done.variables["rounds"], done.variables["counted"]) == (5, 2)


async def test_invoke_runs_its_block_in_a_scope_of_its_own(run: Runner) -> None:
    done = await run(
        job(
            """
            Int:x = 1;
            Invoke()
            {
                Int:y = 2;
                x = x + y;
            }
            Invoke()
            {
                Int:y = 40;
                x = x + y;
            }
            """
        )
    )

    assert done.status is COMPLETED, done.error
    assert done.variables == {"x": 43}


# ------------------------------------------------------------ concurrency and timing


async def test_parallel_foreach_runs_every_item_at_once(run: Runner) -> None:
    done = await run(
        job(
            """
            Int:total = 0;
            Parallel.ForEach(x in [1, 2, 3])
            {
                Delay(100)
                {
                    total = total + x;
                }
            }
            """
        )
    )

    assert done.variables["total"] == 6
    assert done.clock.now() == pytest.approx(0.1)  # three waits of 100 ms, side by side


async def test_parallel_foreach_keeps_to_its_limit(run: Runner) -> None:
    done = await run(
        job(
            """
            Int:total = 0;
            Parallel.ForEach(x in [1, 2, 3, 4], 2)
            {
                Delay(100)
                {
                    total = total + x;
                }
            }
            """
        )
    )

    assert done.variables["total"] == 10
    assert done.clock.now() == pytest.approx(0.2)  # two rounds of two


async def test_break_in_parallel_foreach_starts_no_further_items(run: Runner) -> None:
    done = await run(
        job(
            """
            Parallel.ForEach(x in [1, 2, 3, 4], 1)
            {
                If(x == 2)
                {
                    Break;
                }
                Trace(x);
            }
            """
        )
    )

    assert done.status is COMPLETED, done.error
    assert done.traces() == ["1"]


async def test_a_failing_parallel_branch_fails_the_job_with_its_own_message(
    run: Runner,
) -> None:
    done = await run(
        job(
            """
            Parallel.ForEach(x in [1, 2, 3])
            {
                If(x == 2)
                {
                    Compute.Fail("two");
                }
            }
            """
        )
    )

    assert done.status is FAILED
    assert done.error == (
        'test.wit:7: Compute.Fail: ComputeFailure: two (in: Compute.Fail("two");)'
    )


async def test_parallel_invoke_runs_its_statements_at_the_same_time(run: Runner) -> None:
    done = await run(
        job(
            """
            Parallel.Invoke()
            {
                Delay(200)
                {
                    Trace("slow");
                }
                Delay(100)
                {
                    Trace("fast");
                }
            }
            Trace("after");
            """
        )
    )

    assert done.traces() == ["fast", "slow", "after"]
    assert done.clock.now() == pytest.approx(0.2)


async def test_delay_waits_on_the_clock_then_runs_its_block(run: Runner) -> None:
    clock = FakeClock()
    control = JobControl()
    events: list[JobEvent] = []
    interpreter, _ = run.interpreter(
        job('Delay(250)\n{\nTrace("inside");\n}\nTrace("after");'),
        events,
        clock=clock,
        control=control,
    )
    task = asyncio.create_task(interpreter.run({}))

    await clock.wait_for_sleepers(1)
    clock.advance(0.249)
    for _ in range(20):
        await asyncio.sleep(0)
    assert not any(isinstance(e, TraceLogged) for e in events)
    clock.advance(0.001)
    outcome = await task

    assert outcome.status is COMPLETED
    assert [e.message for e in events if isinstance(e, TraceLogged)] == ["inside", "after"]
    assert clock.slept == [0.25]


async def test_timer_runs_each_interval_until_its_timeout(run: Runner) -> None:
    done = await run(
        job(
            """
            Int:ticks = 0;
            Timer(100, 350)
            {
                ticks = ticks + 1;
            }
            """
        )
    )

    assert done.variables["ticks"] == 3
    assert done.clock.slept == [0.1] * 4


@pytest.mark.parametrize("start", [0.0, 0.1, 1000.7])
async def test_timer_runs_a_round_that_lands_exactly_on_its_timeout(
    run: Runner, start: float
) -> None:
    clock = FakeClock(start, autojump=True)
    done = await run(job("Int:ticks = 0;\nTimer(100, 300)\n{\nticks = ticks + 1;\n}"), clock=clock)

    assert done.variables["ticks"] == 3


async def test_timer_without_timeout_stops_at_break_and_skips_on_continue(run: Runner) -> None:
    done = await run(
        job(
            """
            Int:ticks = 0;
            Int:odd = 0;
            Timer(10)
            {
                ticks = ticks + 1;
                If(ticks == 6)
                {
                    Break;
                }
                If(ticks % 2 == 0)
                {
                    Continue;
                }
                odd = odd + 1;
            }
            """
        )
    )

    assert (done.variables["ticks"], done.variables["odd"]) == (6, 3)
    assert done.clock.now() == pytest.approx(0.06)


async def test_pause_waits_and_logs_its_message(run: Runner) -> None:
    done = await run(job('Pause(500, "cooling down");\nPause(20);'))

    assert done.traces() == ["pause of 500 ms: cooling down", "pause of 20 ms"]
    assert done.clock.slept == [0.5, 0.02]


# ------------------------------------------------------------------ Return and Trace


async def test_return_streams_values_as_an_event_and_the_job_goes_on(run: Runner) -> None:
    done = await run(
        job(
            """
            Int:n = 6;
            Return(n, "six", [1, 2], Color("#FF0000"));
            Return();
            Trace("still running");
            """
        )
    )

    assert done.status is COMPLETED
    assert done.returned() == [
        [6, "six", [1, 2], {"$type": "Color", "value": "#FF0000"}],
        [],
    ]
    assert done.of(ValuesReturned)[0].line == 4
    assert done.traces() == ["still running"]


async def test_trace_logs_the_text_of_any_value(run: Runner) -> None:
    done = await run(
        job(
            """
            Trace("plain");
            Trace(42);
            Trace(2.5);
            Trace(true);
            Trace(null);
            Trace([1, "a"]);
            Trace(TimeSpan("0:01:30"));
            Trace("no failure", false);
            """
        )
    )

    assert done.status is COMPLETED
    assert done.traces() == [
        "plain",
        "42",
        "2.5",
        "true",
        "null",
        "[1, a]",
        "00:01:30",
        "no failure",
    ]
    assert [e.line for e in done.of(TraceLogged)] == list(range(3, 11))


async def test_trace_with_fail_true_fails_the_job_with_its_message(run: Runner) -> None:
    done = await run(job('Trace("first");\nTrace("disk full", true);\nTrace("never");'))

    assert done.status is FAILED
    assert done.error == 'test.wit:4: disk full (in: Trace("disk full", true);)'
    assert done.traces() == ["first", "disk full"]


# ------------------------------------------------------------------ ranges and maps


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("Int.Range(0, 5)", [0, 1, 2, 3, 4]),
        ("Int.Range(2, 10, 3)", [2, 5, 8]),
        ("Int.Range(5, 0, -2)", [5, 3, 1]),
        ("Int.Range(3, 3)", []),
        ("Int.Range(5, 0)", []),
        ("Long.Range(3000000000, 3000000002)", [3_000_000_000, 3_000_000_001]),
        ("Double.Range(0, 1, 0.25)", [0.0, 0.25, 0.5, 0.75]),
    ],
)
async def test_ranges_end_before_their_end(run: Runner, call: str, expected: list[object]) -> None:
    done = await run(job(f"ObjectCollection:xs = {call};"))

    assert done.status is COMPLETED, done.error
    assert done.variables["xs"] == expected
    assert [type(x) for x in done.variables["xs"]] == [type(x) for x in expected]


async def test_a_range_with_step_zero_fails_naming_the_statement(run: Runner) -> None:
    done = await run(job("IntCollection:xs = Int.Range(0, 5, 0);"))

    assert done.status is FAILED
    assert done.error == (
        "test.wit:3: Int.Range: the step of a range cannot be 0 "
        "(in: IntCollection:xs = Int.Range(0, 5, 0);)"
    )


async def test_transform_foreach_maps_on_the_hub_in_order(run: Runner) -> None:
    done = await run(
        job(
            """
            StringCollection:words = ["b", "a"];
            StringCollection:hashes = Transform.ForEach(w in words) => Compute.Hash(w);
            IntCollection:lengths = Transform.ForEach(w in ["abc", "", "de"]) => Count(w);
            """
        )
    )

    assert done.status is COMPLETED, done.error
    assert done.variables["hashes"] == [
        "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d",
        "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb",
    ]
    assert done.variables["lengths"] == [3, 0, 2]
    assert done.executor.requests == []  # nothing went to the grid


async def test_grid_foreach_returns_results_in_input_order(run: Runner) -> None:
    done = await run(
        job(
            """
            LongCollection:numbers = [9, 7, 2, 15, 13];
            BoolCollection:flags = Grid.ForEach(x in numbers) => Compute.IsPrime(x);
            """
        )
    )

    assert done.status is COMPLETED, done.error
    assert done.variables["flags"] == [False, True, True, False, True]
    (request,) = done.executor.requests
    assert request.activity == "Compute.IsPrime"
    assert request.items == [[9], [7], [2], [15], [13]]
    assert request.options is None
    assert request.delegate is False
    assert request.label == (
        "test.wit:4: BoolCollection:flags = Grid.ForEach(x in numbers) => Compute.IsPrime(x);"
    )


async def test_grid_foreach_sends_outer_variables_its_call_uses(run: Runner) -> None:
    done = await run(
        job(
            """
            String:prefix = "item-";
            StringCollection:hashes = Grid.ForEach(i in [1, 2]) => Compute.Hash(prefix + i);
            """
        )
    )

    assert done.status is COMPLETED, done.error
    assert done.executor.requests[0].items == [["item-1"], ["item-2"]]


async def test_grid_foreach_reports_progress_from_zero_to_all(run: Runner) -> None:
    done = await run(job("DoubleCollection:r = Grid.ForEach(x in [1, 2, 3]) => Compute.Work(0);"))

    assert [(e.line, e.activity, e.done, e.total) for e in done.of(ProgressReported)] == [
        (3, "Compute.Work", 0, 3),
        (3, "Compute.Work", 1, 3),
        (3, "Compute.Work", 2, 3),
        (3, "Compute.Work", 3, 3),
    ]


async def test_grid_foreach_over_nothing_gives_an_empty_collection(run: Runner) -> None:
    done = await run(job("BoolCollection:flags = Grid.ForEach(x in []) => Compute.IsPrime(x);"))

    assert done.status is COMPLETED, done.error
    assert done.variables["flags"] == []


async def test_grid_foreach_passes_processing_options_on(run: Runner) -> None:
    done = await run(
        job(
            """
            ProcessingOptions:options = ProcessingOptions("Balanced", 2);
            BoolCollection:a = Grid.ForEach(x in [2], options) => Compute.IsPrime(x);
            BoolCollection:b = Grid.ForEach(x in [2], ProcessingOptions("queued"))
                => Compute.IsPrime(x);
            """
        )
    )

    assert done.status is COMPLETED, done.error
    assert [r.options for r in done.executor.requests] == [
        ProcessingOptions(Strategy.BALANCED, 2),
        ProcessingOptions(Strategy.QUEUED),
    ]


async def test_grid_options_given_as_a_string_become_processing_options(run: Runner) -> None:
    done = await run(
        job(
            """
            BoolCollection:a = Grid.ForEach(x in [2], strategy) => Compute.IsPrime(x);
            Bool:b = Grid.Delegate("Queued") => Compute.IsPrime(7);
            """,
            'String:strategy = "balanced"',
        )
    )

    assert done.status is COMPLETED, done.error
    assert [r.options for r in done.executor.requests] == [
        ProcessingOptions(Strategy.BALANCED),
        ProcessingOptions(Strategy.QUEUED),
    ]


async def test_an_unknown_strategy_for_a_grid_fails_the_job_at_its_line(run: Runner) -> None:
    script = 'DoubleCollection:a = Grid.ForEach(x in [1], "Fastest") => Compute.Work(x);'
    done = await run(job(script))

    assert done.status is FAILED
    assert done.error is not None
    assert done.error.startswith(
        "test.wit:3: Grid.ForEach options: unknown strategy 'Fastest'; use "
    ), done.error


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ('"Fastest"', 'unknown strategy \'Fastest\'; use "Adaptive", "Balanced", "Queued"'),
        ('"Adaptive", 0', "maxNodes must be at least 1, got 0"),
    ],
)
async def test_bad_processing_options_fail_the_job(run: Runner, options: str, message: str) -> None:
    done = await run(job(f"ProcessingOptions:o = ProcessingOptions({options});"))

    assert done.status is FAILED
    assert done.error is not None
    assert done.error.startswith(f"test.wit:3: ProcessingOptions: {message} (in: ")


async def test_grid_delegate_runs_one_call_and_gives_its_value(run: Runner) -> None:
    done = await run(
        job(
            """
            String:h = Grid.Delegate => Compute.Hash("a");
            Bool:p = Grid.Delegate(ProcessingOptions("Queued")) => Compute.IsPrime(7);
            """
        )
    )

    assert done.status is COMPLETED, done.error
    assert done.variables["h"] == (
        "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
    )
    assert done.variables["p"] is True
    first, second = done.executor.requests
    assert (first.delegate, first.items, first.options) == (True, [["a"]], None)
    assert (second.delegate, second.options) == (True, ProcessingOptions(Strategy.QUEUED))


async def test_a_grid_arrow_as_a_statement_runs_and_discards_its_results(run: Runner) -> None:
    done = await run(job('Grid.ForEach(x in ["a", "b"]) => Compute.Hash(x);'))

    assert done.status is COMPLETED, done.error
    assert done.executor.requests[0].items == [["a"], ["b"]]


async def test_blobs_made_by_activities_travel_through_the_grid(run: Runner) -> None:
    done = await run(
        job(
            """
            BlobCollection:files = Grid.ForEach(t in ["one", "two"])
                => Compute.WriteText(t, t + ".txt");
            StringCollection:texts = Grid.ForEach(f in files) => Compute.ReadText(f);
            """
        )
    )

    assert done.status is COMPLETED, done.error
    assert done.variables["texts"] == ["one", "two"]
    assert [f.name for f in done.variables["files"]] == ["one.txt", "two.txt"]


# -------------------------------------------------------------------------- failures


async def test_a_failing_activity_fails_the_job_naming_the_activity_and_line(
    run: Runner,
) -> None:
    done = await run(
        job(
            """
            Trace("before");
            Compute.Fail("out of paint");
            Trace("after");
            """
        )
    )

    assert done.status is FAILED
    assert done.error == (
        'test.wit:4: Compute.Fail: ComputeFailure: out of paint (in: Compute.Fail("out of paint");)'
    )
    assert done.traces() == ["before"]
    assert done.events[-2:] == [
        StatementStarted(line=4, text='Compute.Fail("out of paint");'),
        JobFinished(status=FAILED, error=done.error),
    ]


async def test_a_failing_grid_item_fails_the_job_naming_the_item(run: Runner) -> None:
    done = await run(
        job(
            """
            Int:n = 1;
            Grid.ForEach(word in ["fine", "broken"]) => Compute.Fail(word);
            n = 2;
            """
        )
    )

    assert done.status is FAILED
    assert done.error == (
        "test.wit:4: item 0 (word = fine) failed: Compute.Fail: ComputeFailure: fine "
        '(in: Grid.ForEach(word in ["fine", "broken"]) => Compute.Fail(word);)'
    )
    assert done.variables["n"] == 1


async def test_a_failure_inside_a_loop_names_the_inner_statement(run: Runner) -> None:
    done = await run(
        job(
            """
            ForEach(x in [1, 0])
            {
                Int:y = 10 / x;
            }
            """
        )
    )

    assert done.status is FAILED
    assert done.error == "test.wit:5: division by zero in 10 / 0 (in: Int:y = 10 / x;)"


async def test_an_activity_bad_at_its_argument_fails_the_job(run: Runner) -> None:
    done = await run(job("Double:w = Compute.Work(-1);"))

    assert done.status is FAILED
    assert done.error == (
        "test.wit:3: Compute.Work: ValueError: units must not be negative, got -1.0 "
        "(in: Double:w = Compute.Work(-1);)"
    )


# ------------------------------------------------------------------------ parameters


async def test_parameters_take_given_values_and_defaults(run: Runner) -> None:
    script = job(
        'Trace(Format("{0} {1} {2}", n, name, twice));',
        'Int:n, String:name = "world", Long:twice = n * 2',
    )

    done = await run(script, {"n": 21})

    assert done.status is COMPLETED, done.error
    assert done.traces() == ["21 world 42"]


async def test_given_parameters_become_their_declared_types(run: Runner) -> None:
    done = await run(
        job(
            "Object:all = [n, c, xs, d];",
            "Int:n, Color:c, IntCollection:xs, Double:d",
        ),
        {"n": "7", "c": "#000000", "xs": ["1", 2], "d": 3},
    )

    assert done.status is COMPLETED, done.error
    assert done.variables["all"] == [7, Color(0, 0, 0), [1, 2], 3.0]
    assert type(done.variables["all"][3]) is float


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "missing parameter 'n' (Int)"),
        ({"n": "ten"}, "parameter 'n' (Int): 'ten' is not a whole number"),
        ({"n": 2**40}, "parameter 'n' (Int): 1099511627776 does not fit in Int"),
        ({"n": 1, "m": 2}, "unknown parameter 'm'; Test takes n"),
    ],
)
async def test_bad_parameters_fail_the_job_before_any_statement(
    run: Runner, arguments: dict[str, object], message: str
) -> None:
    done = await run(job('Trace("ran");', "Int:n"), arguments)

    assert done.status is FAILED
    assert done.error is not None and done.error.startswith(message)
    assert done.events == [JobFinished(status=FAILED, error=done.error)]


async def test_a_default_that_cannot_be_evaluated_fails_the_job(run: Runner) -> None:
    done = await run(job("", "Int:n = 1 / 0"))

    assert done.status is FAILED
    assert done.error == "parameter 'n' (Int): its default: division by zero in 1 / 0"


async def test_parameter_errors_are_parameter_errors(run: Runner) -> None:
    interpreter, _ = run.interpreter(job("", "Int:n"), [], clock=FakeClock())

    with pytest.raises(ParameterError, match="missing parameter 'n'"):
        await interpreter._bind_parameters({})


# -------------------------------------------------------------------------- events


async def test_events_come_in_statement_order_and_end_with_job_finished(run: Runner) -> None:
    done = await run(
        job(
            """
            Int:x = 1;
            ForEach(i in [1, 2])
            {
                x = x + i;
                Trace(x);
            }
            BoolCollection:p = Grid.ForEach(n in [2]) => Compute.IsPrime(n);
            Return(x);
            """
        )
    )

    assert done.events == [
        StatementStarted(line=3, text="Int:x = 1;"),
        StatementFinished(line=3),
        StatementStarted(line=4, text="ForEach(i in [1, 2])"),
        TraceLogged(line=7, message="2"),
        TraceLogged(line=7, message="4"),
        StatementFinished(line=4),
        StatementStarted(
            line=9, text="BoolCollection:p = Grid.ForEach(n in [2]) => Compute.IsPrime(n);"
        ),
        ProgressReported(line=9, activity="Compute.IsPrime", done=0, total=1),
        ProgressReported(line=9, activity="Compute.IsPrime", done=1, total=1),
        StatementFinished(line=9),
        StatementStarted(line=10, text="Return(x);"),
        ValuesReturned(line=10, values=[4]),
        StatementFinished(line=10),
        JobFinished(status=COMPLETED, error=None),
    ]


async def test_statements_inside_if_and_invoke_are_announced(run: Runner) -> None:
    done = await run(
        job(
            """
            If(true)
            {
                Invoke()
                {
                    Trace("deep");
                }
            }
            """
        )
    )

    assert done.events == [
        StatementStarted(line=3, text="If(true)"),
        StatementStarted(line=5, text="Invoke()"),
        StatementStarted(line=7, text='Trace("deep");'),
        TraceLogged(line=7, message="deep"),
        StatementFinished(line=7),
        StatementFinished(line=5),
        StatementFinished(line=3),
        JobFinished(status=COMPLETED, error=None),
    ]


# ----------------------------------------------------------------- cancel and pause


class Waiter:
    """An event sink hook that lets a test wait for the first event matching a predicate."""

    def __init__(self) -> None:
        self.events: list[JobEvent] = []
        self.conditions: list[tuple[type[object], asyncio.Event]] = []

    def __call__(self, event: JobEvent) -> None:
        self.events.append(event)
        for kind, flag in self.conditions:
            if isinstance(event, kind):
                flag.set()

    async def wait_for(self, kind: type[object]) -> None:
        flag = asyncio.Event()
        if any(isinstance(e, kind) for e in self.events):
            return
        self.conditions.append((kind, flag))
        await flag.wait()


async def test_cancelling_a_job_that_waits_ends_it_cancelled(run: Runner) -> None:
    clock = FakeClock()
    control = JobControl()
    events: list[JobEvent] = []
    interpreter, _ = run.interpreter(
        job('Trace("a");\nDelay(1000)\n{\nTrace("b");\n}\nTrace("c");'),
        events,
        clock=clock,
        control=control,
    )
    task = asyncio.create_task(interpreter.run({}))
    await clock.wait_for_sleepers(1)

    control.cancel()
    outcome = await task

    assert outcome.status is CANCELLED
    assert outcome.error == "the job was cancelled"
    assert [e.message for e in events if isinstance(e, TraceLogged)] == ["a"]
    assert events[-1] == JobFinished(status=CANCELLED, error="the job was cancelled")
    assert clock.sleeping == 0


async def test_cancelling_from_an_event_handler_stops_at_the_next_statement(
    run: Runner,
) -> None:
    control = JobControl()

    def cancel_after_a(event: JobEvent) -> None:
        if event == TraceLogged(line=3, message="a"):
            control.cancel()

    done = await run(job('Trace("a");\nTrace("b");'), control=control, on_event=cancel_after_a)

    assert done.status is CANCELLED
    assert done.traces() == ["a"]


async def test_cancelling_during_a_grid_map_stops_the_map(run: Runner) -> None:
    control = JobControl()

    def cancel_at_two(event: JobEvent) -> None:
        if isinstance(event, ProgressReported) and event.done == 2:
            control.cancel()

    done = await run(
        job(
            """
            StringCollection:h = Grid.ForEach(x in ["a", "b", "c", "d", "e"]) => Compute.Hash(x);
            Trace("after");
            """
        ),
        control=control,
        on_event=cancel_at_two,
    )

    assert done.status is CANCELLED
    assert len(done.executor.calls) < 5
    assert done.traces() == []
    assert "h" not in done.variables


async def test_pause_holds_between_statements_and_resume_continues(run: Runner) -> None:
    control = JobControl()
    waiter = Waiter()

    def pause_after_first(event: JobEvent) -> None:
        waiter(event)
        if event == StatementFinished(line=3):
            control.pause()

    events: list[JobEvent] = []
    interpreter, _ = run.interpreter(
        job('Trace("one");\nTrace("two");'),
        events,
        clock=FakeClock(),
        control=control,
        on_event=pause_after_first,
    )
    task = asyncio.create_task(interpreter.run({}))
    await waiter.wait_for(JobPaused)
    for _ in range(20):
        await asyncio.sleep(0)

    assert events[-2:] == [StatementFinished(line=3), JobPaused()]
    assert control.paused

    control.resume()
    outcome = await task

    assert outcome.status is COMPLETED
    assert events == [
        StatementStarted(line=3, text='Trace("one");'),
        TraceLogged(line=3, message="one"),
        StatementFinished(line=3),
        JobPaused(),
        JobResumed(),
        StatementStarted(line=4, text='Trace("two");'),
        TraceLogged(line=4, message="two"),
        StatementFinished(line=4),
        JobFinished(status=COMPLETED, error=None),
    ]


async def test_a_job_paused_before_it_starts_waits_for_resume(run: Runner) -> None:
    control = JobControl()
    control.pause()
    waiter = Waiter()
    events: list[JobEvent] = []
    interpreter, _ = run.interpreter(
        job('Trace("one");'), events, clock=FakeClock(), control=control, on_event=waiter
    )
    task = asyncio.create_task(interpreter.run({}))
    await waiter.wait_for(JobPaused)

    assert events == [JobPaused()]
    control.resume()
    assert (await task).status is COMPLETED
    assert events[:3] == [JobPaused(), JobResumed(), StatementStarted(line=3, text='Trace("one");')]


async def test_cancelling_a_paused_job_ends_it_cancelled(run: Runner) -> None:
    control = JobControl()
    control.pause()
    waiter = Waiter()
    events: list[JobEvent] = []
    interpreter, _ = run.interpreter(
        job('Trace("one");'), events, clock=FakeClock(), control=control, on_event=waiter
    )
    task = asyncio.create_task(interpreter.run({}))
    await waiter.wait_for(JobPaused)

    control.cancel()
    outcome = await task

    assert outcome.status is CANCELLED
    assert events == [JobPaused(), JobFinished(status=CANCELLED, error="the job was cancelled")]


async def test_a_job_run_in_the_callers_task_can_be_cancelled_from_another_task(
    run: Runner,
) -> None:
    clock = FakeClock()
    control = JobControl()
    interpreter, _ = run.interpreter(job("Delay(1000)\n{\n}"), [], clock=clock, control=control)

    async def cancel_when_asleep() -> None:
        await clock.wait_for_sleepers(1)
        control.cancel()

    canceller = asyncio.create_task(cancel_when_asleep())
    outcome = await interpreter.run({})
    await canceller

    assert outcome.status is CANCELLED
    current = asyncio.current_task()
    assert current is not None and current.cancelling() == 0


async def test_cancelling_after_the_job_has_ended_leaves_its_task_alone(run: Runner) -> None:
    control = JobControl()
    interpreter, _ = run.interpreter(job('Trace("one");'), [], clock=FakeClock(), control=control)

    outcome = await interpreter.run({})
    control.cancel()
    await asyncio.sleep(0)  # a stray cancellation of this task would land here

    assert outcome.status is COMPLETED


async def test_statements_of_a_parallel_branch_are_announced_while_another_is_in_a_loop(
    run: Runner,
) -> None:
    done = await run(
        job(
            """
            Parallel.Invoke()
            {
                ForEach(x in [1])
                {
                    Delay(100)
                    {
                    }
                }
                Trace("b");
            }
            """
        )
    )

    assert StatementStarted(line=11, text='Trace("b");') in done.events
    assert StatementFinished(line=11) in done.events


async def test_cancelling_parallel_branches_stops_them_all(run: Runner) -> None:
    clock = FakeClock()
    control = JobControl()
    events: list[JobEvent] = []
    interpreter, _ = run.interpreter(
        job(
            """
            Parallel.ForEach(x in [1, 2, 3])
            {
                Delay(1000)
                {
                    Trace(x);
                }
            }
            Trace("after");
            """
        ),
        events,
        clock=clock,
        control=control,
    )
    task = asyncio.create_task(interpreter.run({}))
    await clock.wait_for_sleepers(3)

    control.cancel()
    outcome = await task
    clock.advance(10)
    await asyncio.sleep(0)

    assert outcome.status is CANCELLED
    assert not any(isinstance(e, TraceLogged) for e in events)
    assert clock.sleeping == 0


async def test_a_failing_branch_of_parallel_invoke_stops_the_branch_that_waits(
    run: Runner,
) -> None:
    done = await run(
        job(
            """
            Parallel.Invoke()
            {
                Delay(1000)
                {
                    Trace("slow branch went on");
                }
                Compute.Fail("fast failure");
            }
            """
        ),
        clock=FakeClock(),  # time stands still: the failure, in a thread, comes first
    )

    assert done.status is FAILED
    assert done.error == (
        'test.wit:9: Compute.Fail: ComputeFailure: fast failure (in: Compute.Fail("fast failure");)'
    )
    assert done.traces() == []
    assert done.clock.now() == 0


async def test_a_large_grid_map_lets_other_tasks_run_while_its_arguments_are_evaluated(
    run: Runner,
) -> None:
    turns = 0
    marks: list[int] = []  # turns of the event loop when the map's statement began, and ended

    async def count_turns() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    def on_event(event: JobEvent) -> None:
        began = isinstance(event, StatementStarted) and event.line == 4
        handed_over = isinstance(event, ProgressReported) and event.done == 0
        if began or handed_over:  # the map is handed over with progress 0
            marks.append(turns)

    source = job(
        """
        IntCollection:numbers = Int.Range(0, 5000);
        StringCollection:h = Grid.ForEach(i in numbers) => Compute.Hash(Format("{0}", i));
        """
    )
    counter = asyncio.create_task(count_turns())
    try:
        done = await run(source, on_event=on_event)
    finally:
        counter.cancel()
    assert done.status is COMPLETED, done.error
    began, handed_over = marks
    assert handed_over - began >= 5000 // YIELD_EVERY > 0, "a hub's nodes and API would wait"
