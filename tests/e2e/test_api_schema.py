"""Schemathesis over the hub's OpenAPI document, against a real hub process on loopback.

Every operation the document describes gets requests generated from its schema, valid ones and
deliberately invalid ones, a bounded number of each. No answer may be a 5xx, and every answer
must match the schema the document gives for its status code. The script routes also get
scripts the schema cannot describe: every form of nesting inside the others, as deep as a
script's size allows, and long flat scripts. The hub has a node and a few jobs
behind it, so the lists it answers are not empty.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from witengine.testing.processes import ProcessFarm, free_port, wait_until
from witengine.testing.scripts import DEEP_FORMS, LONG_FORMS, long_script, mixed_script

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# Per operation and generation mode. CI draws the same examples every run (a seed per test), so
# a run fails for a change, not for a new draw: 10 valid requests per operation reach every
# status that 25 did, while invalid ones still reach new statuses past 10 (measured on the whole
# document). A deeper run, with fresh draws each time, finds what the fixed ones miss (it found
# the overflow behind
# test_a_join_token_for_more_nodes_than_the_store_can_count_is_refused_not_a_500):
# WIT_SCHEMA_EXAMPLES=500 WIT_SCHEMA_RANDOM=1 pytest tests/e2e/test_api_schema.py
DEEPER = os.environ.get("WIT_SCHEMA_EXAMPLES")
EXAMPLES = {
    GenerationMode.POSITIVE: int(DEEPER or "10"),
    GenerationMode.NEGATIVE: int(DEEPER or "25"),
}
HOSTILE_EXAMPLES = int(DEEPER or "25") * 2
RANDOM = os.environ.get("WIT_SCHEMA_RANDOM", "") not in ("", "0")
CHECKS = [not_a_server_error, response_schema_conformance]
DONE = "Job:Done(Int:n = 3)\n{\nInt:twice = n * 2;\n}\n"
WAITING = (  # its node holds it for the whole test: a job with progress and a busy node
    "Job:Waiting()\n{\n"
    "IntCollection:slept = Grid.ForEach(i in Int.Range(0, 4)) => Compute.Sleep(600000);\n}\n"
)


# Streams that follow changes until the client stops; they are read in their own tests
# (tests/unit/hub/test_board_routes.py).
FOLLOWING = {"/api/v1/board-changes"}


def auth_headers(farm: ProcessFarm) -> dict[str, str]:
    """The admin's token: schemathesis sends it with every request, as an operator would."""
    assert farm.token is not None, "the hub made no admin token"
    return {"Authorization": f"Bearer {farm.token}"}


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path_factory.mktemp("schema"), free_port())
    try:
        farm.start_hub()
        farm.start_node("fuzzed", "--no-bench")
        wait_until(lambda: farm.online() == ["fuzzed"], 60, "the node to connect")
        farm.submit(DONE, {})
        farm.submit(WAITING, {})
        yield farm
    finally:
        farm.stop()


def _document(farm: ProcessFarm) -> Any:
    answer = httpx.get(f"{farm.url}/openapi.json", headers=auth_headers(farm), timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_operation_answers_a_server_error_or_off_its_schema(
    farm: ProcessFarm, mode: GenerationMode
) -> None:
    document = _document(farm)
    schema = schemathesis.openapi.from_dict(document)
    headers = auth_headers(farm)
    failures: list[str] = []
    calls: dict[str, int] = {}
    unbreakable: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and not _breakable(document, operation):
            unbreakable.append(operation.label)
            continue
        try:
            _exercise(operation, mode, farm.url, headers, calls)
        except Unsatisfiable:  # nothing in it that schemathesis can make invalid
            assert mode is GenerationMode.NEGATIVE, f"no valid request to {operation.label}"
        except (Exception, BaseExceptionGroup) as failure:  # all failures are reported at once
            failures.append(f"{operation.label}:\n{str(failure)[:3000]}")
    print(
        f"\n{mode.value}: {len(calls)} operations, {sum(calls.values())} requests "
        f"({len(unbreakable)} operations take no invalid request)"
    )
    assert not failures, "\n\n".join(failures) + "\n\nhub log (end):\n" + farm.log()[-4000:]
    assert len(calls) >= (15 if mode is GenerationMode.POSITIVE else 5), sorted(calls)
    assert farm.hub is not None and farm.hub.poll() is None, "the hub died"


def _breakable(document: dict[str, Any], operation: Any) -> bool:
    """Whether an invalid request to the operation can be made: not when it takes no body and
    nothing but path parameters of any text (schemathesis then rejects each of the hundreds of
    cases it draws, a second of work per operation, and sends nothing)."""
    described = document["paths"][operation.path][operation.method.lower()]
    if "requestBody" in described:
        return True
    parameters = described.get("parameters", [])
    any_text = {"type": "string"}
    return any(
        p["in"] != "path" or {k: v for k, v in p["schema"].items() if k != "title"} != any_text
        for p in parameters
    )


def _exercise(
    operation: Any, mode: GenerationMode, url: str, headers: dict[str, str], calls: dict[str, int]
) -> None:
    """Up to EXAMPLES[mode] requests to one operation; the first failure found is raised."""

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES[mode],
        derandomize=not RANDOM,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def exercise(case: Any) -> None:
        calls[operation.label] = calls.get(operation.label, 0) + 1
        if operation.path in FOLLOWING:  # a stream that never ends: asked to end when read
            case.query = {**(case.query or {}), "follow": "false"}
        case.call_and_validate(base_url=url, headers=headers, checks=CHECKS, timeout=20)

    exercise()


# The fuzzing of the parser's (tests/unit/lang/strategies.py), over HTTP: forms of nesting inside
# one another, around the limit and far past it, and long flat scripts.
hostile_scripts = st.one_of(
    st.lists(
        st.tuples(
            st.sampled_from(sorted(DEEP_FORMS)),
            st.one_of(st.integers(0, 200), st.integers(0, 60_000)),
        ),
        min_size=1,
        max_size=4,
    ).map(mixed_script),
    st.builds(long_script, st.sampled_from(sorted(LONG_FORMS)), st.integers(0, 100_000)),
)


def test_deep_and_long_scripts_are_answered_with_no_server_error(farm: ProcessFarm) -> None:
    headers = auth_headers(farm)
    answered: dict[int, int] = {}

    @given(script=hostile_scripts, route=st.sampled_from(["/check", "/jobs"]))
    @settings(
        max_examples=HOSTILE_EXAMPLES,
        derandomize=not RANDOM,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def post(script: str, route: str) -> None:
        answer = httpx.post(
            f"{farm.url}/api/v1{route}",
            json={"script": script, "filename": "hostile.wit"},
            headers=headers,
            timeout=60,
        )
        answered[answer.status_code] = answered.get(answer.status_code, 0) + 1
        assert answer.status_code < 500, f"{route}: {answer.text[:2000]}"
        if answer.status_code == 400:
            assert answer.json()["diagnostics"], answer.text[:2000]

    post()
    print(f"\nhostile scripts: {sorted(answered.items())}")
    assert 400 in answered, "no script was refused: the strategy makes nothing deep"


def test_the_fuzzed_hub_still_runs_jobs(farm: ProcessFarm) -> None:
    """After all that, the hub still does its work."""
    waiting = farm.acknowledged[1]
    assert farm.api("POST", f"/jobs/{waiting}/cancel").status_code == 200
    assert farm.wait_done(waiting, 30)["status"] == "cancelled"
    job_id = farm.submit(
        "Job:After(Int:n)\n{\n"
        "IntCollection:slept = Grid.ForEach(i in Int.Range(0, n)) => Compute.Sleep(1);\n}\n",
        {"n": "5"},
    )
    job = farm.wait_done(job_id, 60)
    assert job["status"] == "completed", job
    assert job["variables"]["slept"] == [1, 1, 1, 1, 1]


def test_the_schema_documents_every_error_answer_as_a_reason(farm: ProcessFarm) -> None:
    """422 and 413 answers are ErrorBody (a reason in `detail`), not FastAPI's default shape."""
    document = _document(farm)
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for status in ("413", "422"):
                if status in operation.get("responses", {}):
                    content = operation["responses"][status]["content"]["application/json"]
                    assert content["schema"] == {"$ref": "#/components/schemas/ErrorBody"}, (
                        f"{method.upper()} {path} {status}"
                    )
    assert "HTTPValidationError" not in document.get("components", {}).get("schemas", {})
