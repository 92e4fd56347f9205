"""Hostile input (issue 15): scripts nested deep or made long, and event ids that are no number,
sent to a real hub process. Each is a 400 naming what is wrong, answered at once, never a 500;
and while the hub checks the longest script it may take, it still answers its health checks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from witengine.hub.limits import Limits
from witengine.lang.nesting import MAX_NESTING
from witengine.testing.processes import ProcessFarm, free_port
from witengine.testing.scripts import DEEP_FORMS, deep_script, long_script

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# The longest script a hub takes by default. A deep script is refused by a look at its text
# before any parsing (tests/unit/lang/test_parser_fuzz.py shows the parser is never started):
# a few milliseconds, where parsing it took 8 to 18 s; bench/parse_limits.py measures it.
SIZE = Limits().script_chars


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path_factory.mktemp("deep"), free_port())
    try:
        farm.start_hub()
        yield farm
    finally:
        farm.stop()


def post(farm: ProcessFarm, route: str, script: str) -> httpx.Response:
    return farm.api("POST", route, json={"script": script, "filename": "deep.wit"}, timeout=120)


def test_a_name_of_1000_members_is_a_located_400_not_a_500(farm: ProcessFarm) -> None:
    """`y.a.a.a…` is one token to the parser; the checker recursed once per member."""
    script = "Job:Deep()\n{\n    Object:x = y" + ".a" * 1000 + ";\n}\n"
    for route in ("/jobs", "/check"):
        answer = post(farm, route, script)
        assert answer.status_code == 400, (route, answer.text[:2000])
        (diagnostic,) = answer.json()["diagnostics"]
        assert diagnostic["line"] == 3 and diagnostic["column"] > 16, diagnostic
        assert f"more than {MAX_NESTING} levels" in diagnostic["message"]
    assert farm.api("GET", "/jobs").json() == []


def test_a_5000_digit_integer_is_a_located_400_not_a_500(farm: ProcessFarm) -> None:
    """Past 4,300 digits Python's int() refuses the text: the parser refuses it first."""
    script = "Job:Big()\n{\n    Long:x = " + "7" * 5000 + ";\n}\n"
    for route in ("/jobs", "/check"):
        answer = post(farm, route, script)
        assert answer.status_code == 400, (route, answer.text[:2000])
        (diagnostic,) = answer.json()["diagnostics"]
        assert (diagnostic["line"], diagnostic["column"]) == (3, 14), diagnostic
    assert farm.api("GET", "/jobs").json() == []


@pytest.mark.parametrize("form", sorted(DEEP_FORMS))
def test_a_script_as_deep_as_its_size_allows_is_refused(farm: ProcessFarm, form: str) -> None:
    script = deep_script(form, SIZE)
    assert SIZE - 100 < len(script) <= SIZE
    for route in ("/check", "/jobs"):
        answer = post(farm, route, script)
        assert answer.status_code == 400, (route, answer.text[:2000])
        (diagnostic,) = answer.json()["diagnostics"]
        assert f"more than {MAX_NESTING} levels" in diagnostic["message"]
        assert diagnostic["line"] >= 3, diagnostic
        assert len(answer.content) < 10_000, "the report shows a window of the line, not all of it"


# The forms whose check takes the hub seconds (a long string is one token: its check is over
# before a health check could tell; bench/parse_limits.py times every form).
@pytest.mark.parametrize("form", ["statements", "errors_on_one_line", "comments_then_an_error"])
def test_the_hub_answers_health_checks_while_it_checks_a_long_script(
    farm: ProcessFarm, form: str, tmp_path: Path
) -> None:
    """Checking a long script takes the hub seconds of work; its event loop turns meanwhile:
    health checks asked while the check is under way are answered before it is."""
    script = long_script(form, 20_000 if form == "errors_on_one_line" else 200_000)
    answered_meanwhile = 0
    checking = threading.Event()

    def probe() -> None:
        nonlocal answered_meanwhile
        with httpx.Client(base_url=farm.url, timeout=60) as client:
            checking.wait(60)
            while checking.is_set():
                assert client.get("/api/v1/health").status_code == 200
                answered_meanwhile += checking.is_set()
                checking.wait(0.02)  # returns at once when the check is done

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        checking.set()
        answer = post(farm, "/check", script)
    finally:
        checking.clear()
        prober.join(60)
    assert answer.status_code in (200, 400), answer.text[:2000]
    assert len(answer.content) < 200_000, "the report is bounded, however many errors"
    assert answered_meanwhile >= 5, f"{answered_meanwhile} health checks answered meanwhile"


@pytest.mark.parametrize("value", ["\xb2".encode("latin-1"), "²".encode(), b"12a", b"9" * 5000])
@pytest.mark.parametrize("route", ["/stream?view=overview", "/api/v1/jobs/{job}/events"])
def test_a_last_event_id_that_is_no_number_is_a_400_naming_the_header(
    farm: ProcessFarm, route: str, value: bytes
) -> None:
    job = farm.submit("Job:Done()\n{\n}\n", {})
    farm.wait_done(job, 30)
    assert farm.token is not None
    headers = {"Authorization": f"Bearer {farm.token}", "Last-Event-ID": value}
    with (
        httpx.Client(base_url=farm.url, timeout=30) as client,
        client.stream("GET", route.format(job=job), headers=headers) as answer,
    ):
        if value == b"9" * 5000:  # a number past any event: the stream goes on after the last
            assert answer.status_code == 200
            return
        answer.read()
    assert answer.status_code == 400, answer.text[:2000]
    assert "Last-Event-ID" in answer.json()["detail"]
