"""The wire contract's two directions: what a hub, node or client is sent is strict; what the hub
answers is read by clients that may be older than it."""

from __future__ import annotations

import pydantic
import pytest

from witengine.protocol import MAX_INT64, Answer, JobSummary, Model, SubmitJob, TaskResult
from witengine.protocol.auth import CreateToken, TokenInfo
from witengine.protocol.bundles import PluginBundle


def test_a_request_with_a_field_the_hub_does_not_know_is_refused_by_name() -> None:
    with pytest.raises(pydantic.ValidationError, match="priority"):
        SubmitJob.model_validate({"script": "Job:A() {}", "priority": 9})
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
    assert issubclass(SubmitJob, Model) and issubclass(TaskResult, Model)


@pytest.mark.parametrize("field", ["index", "attempt"])
def test_counts_past_what_the_store_holds_are_refused(field: str) -> None:
    item = {"map_id": "m", "index": 0, "attempt": 1, "ok": True}
    TaskResult.model_validate({**item, field: MAX_INT64})
    with pytest.raises(pydantic.ValidationError, match=field):
        TaskResult.model_validate({**item, field: MAX_INT64 + 1})
