"""The wire contract's two directions: what a hub, node or client is sent is strict; what the hub
answers is read by clients that may be older than it."""

from __future__ import annotations

import pydantic
import pytest

from witengine.protocol import (
    MAX_INT64,
    Answer,
    JobSummary,
    Model,
    Results,
    SubmitJob,
    TaskResult,
)
from witengine.protocol.auth import CreateToken, TokenInfo
from witengine.protocol.bundles import PluginBundle


def test_a_request_with_a_field_the_hub_does_not_know_is_refused_by_name() -> None:
    with pytest.raises(pydantic.ValidationError, match="urgency"):
        SubmitJob.model_validate({"script": "Job:A() {}", "urgency": 9})
    with pytest.raises(pydantic.ValidationError, match="colour"):
        CreateToken.model_validate({"role": "viewer", "colour": "red"})


def test_an_answer_from_a_newer_hub_with_a_field_this_client_lacks_is_read() -> None:
    job = JobSummary.model_validate(
        {"id": "job_1", "name": "A", "status": "running", "created_at": 1.0, "later": [1, 2]}
    )
    assert job.id == "job_1" and not hasattr(job, "later")
    token = TokenInfo.model_validate(
        {"id": "t", "role": "viewer", "label": "", "created_at": 1.0, "scope": "new"}
    )
    assert token.id == "t"


def test_every_wire_model_is_one_or_the_other() -> None:
    """A model answers clients (lenient) or is sent to a hub or a node (strict), never neither."""
    import witengine.protocol
    import witengine.protocol.auth
    import witengine.protocol.bundles
    import witengine.protocol.events

    modules = (
        witengine.protocol,
        witengine.protocol.auth,
        witengine.protocol.bundles,
        witengine.protocol.events,
    )
    models = {
        value
        for module in modules
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, pydantic.BaseModel)
    } - {Model, Answer, pydantic.BaseModel}
    assert len(models) > 30
    for model in models:
        assert issubclass(model, Model) != issubclass(model, Answer), model.__name__
    assert issubclass(JobSummary, Answer) and issubclass(PluginBundle, Answer)
    assert issubclass(SubmitJob, Model) and issubclass(Results, Model)


RESULT: pydantic.TypeAdapter[TaskResult] = pydantic.TypeAdapter(TaskResult)


@pytest.mark.parametrize(("field", "at"), [("index", 1), ("attempt", 2)])
def test_counts_past_what_the_store_holds_are_refused(field: str, at: int) -> None:
    item: list[object] = ["m", 0, 1, True]
    item[at] = MAX_INT64
    assert getattr(RESULT.validate_python(item), field) == MAX_INT64
    item[at] = MAX_INT64 + 1
    with pytest.raises(pydantic.ValidationError, match=f"{at}\\n.*less than or equal"):
        RESULT.validate_python(item)


def test_a_result_is_an_array_on_the_wire_and_checked_as_strictly_as_a_model() -> None:
    text = Results(batch_id="b", results=[TaskResult("m", 3, 1, True, "v")]).model_dump_json()
    assert '"results":[["m",3,1,true,"v",null,0.0,false]]' in text
    assert Results.model_validate_json(text).results == [TaskResult("m", 3, 1, True, "v")]
    refused = {
        "one field too many": ["m", 3, 1, True, "v", None, 0.0, False, "extra"],
        "a field missing": ["m", 3, 1],
        "a negative time": ["m", 3, 1, True, "v", None, -1.0],
        "a lone surrogate in its error": ["m", 3, 1, False, None, "\ud800"],
        "an unknown field of an object": {
            "map_id": "m",
            "index": 3,
            "attempt": 1,
            "ok": True,
            "x": 1,
        },
    }
    for why, row in refused.items():
        with pytest.raises(pydantic.ValidationError):
            Results.model_validate({"batch_id": "b", "results": [row]})
            pytest.fail(f"a result with {why} was accepted")
