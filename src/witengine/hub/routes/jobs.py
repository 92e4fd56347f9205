"""Job routes: submit, list, get, follow (server-sent events), committed items, cancel, pause,
resume, re-run, check."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from sse_starlette import EventSourceResponse

from witengine.errors import ParameterError, RerunRefused
from witengine.hub.auth.gate import AuthGate, principal_of
from witengine.hub.event_ids import resume_after
from witengine.hub.exchange.signatures import SignatureCheck, SignedRequest
from witengine.hub.service import HubService
from witengine.hub.store.base import JobRecord
from witengine.lang.errors import ScriptError
from witengine.protocol import (
    MAX_INT64,
    CheckDiagnostic,
    CheckedParameter,
    CheckResult,
    ErrorBody,
    ItemResult,
    JobDetail,
    JobItems,
    JobSummary,
    MapSummary,
    Progress,
    SubmitJob,
)
from witengine.security.tokens import Role


class CheckRequest(SubmitJob):
    pass


def _summary(service: HubService, job: JobRecord) -> JobSummary:
    done, total = service.progress(job.id, job)
    return JobSummary(
        id=job.id,
        name=job.name,
        status=job.status,
        error=job.error,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        rerun_of=job.rerun_of,
        progress=Progress(done=done, total=total),
        eta_seconds=service.dispatcher.view.remaining_seconds(job.id),
        waiting=service.dispatcher.view.waiting(job.id),
    )


def _detail(service: HubService, job: JobRecord) -> JobDetail:
    summary = _summary(service, job)
    variables = job.variables or {}
    return JobDetail(
        **summary.model_dump(),
        script=job.script,
        filename=job.filename,
        parameters=job.parameters,
        files=job.files,
        variables=variables.get("values"),
        types=variables.get("types", {}),
        pools=list(job.pools) if job.pools is not None else None,
    )


async def _buyer(
    service: HubService, request: SubmitJob, connection: Request
) -> SignedRequest | None:
    """A job with a bid, or one signed without (its account's buy mandates bid for it): the
    signed request of the account that pays (4xx when the signature does not hold: see
    `SignatureCheck`); None for a job neither bidding nor signed."""
    if request.bid is None and "x-wit-account" not in connection.headers:
        return None
    if service.dispatcher.market is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "this hub keeps no exchange")
    check: SignatureCheck = connection.app.state.signatures
    return await check(connection)


def script_error(error: ScriptError) -> JSONResponse:
    body = ErrorBody(
        detail=f"the script has {len(error.diagnostics)} error(s)\n{error.render()}",
        diagnostics=[CheckDiagnostic.model_validate(d) for d in error.to_json()],
    )
    return JSONResponse(body.model_dump(), status_code=status.HTTP_400_BAD_REQUEST)


def job_router(service: HubService, gate: AuthGate) -> APIRouter:
    router = APIRouter(tags=["jobs"])

    def find(job_id: str) -> JobRecord:
        job = service.job(job_id)
        if job is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id}")
        return job

    @router.post(
        "/jobs",
        status_code=status.HTTP_201_CREATED,
        response_model=JobSummary,
        responses={400: {"model": ErrorBody}},
    )
    async def submit(request: SubmitJob, connection: Request) -> Any:
        """Check and store a job, then start it. The job is stored before this answers. A job
        with a bid must be signed by the account that pays (see docs/exchange.md)."""
        buyer = await _buyer(service, request, connection)
        try:
            job = await service.submit(
                request, owner=principal_of(connection).token_id, buyer=buyer
            )
        except ScriptError as error:
            gate.audit(connection, "job.submit", "refused: script errors", request.filename)
            return script_error(error)
        except ParameterError as error:
            gate.audit(connection, "job.submit", f"refused: {error}", request.filename)
            raise HTTPException(status.HTTP_400_BAD_REQUEST, str(error)) from None
        gate.audit(connection, "job.submit", "ok", f"{job.id} {job.name}")
        return _summary(service, job)

    @router.post("/check", response_model=CheckResult, responses={400: {"model": ErrorBody}})
    async def check(request: CheckRequest) -> Any:
        """Check a script without running it."""
        try:
            checked = await asyncio.to_thread(service.check, request)
        except ScriptError as error:
            return script_error(error)
        parameters = [CheckedParameter(name=p.name, type=str(p.type)) for p in checked.parameters]
        return CheckResult(name=checked.name, parameters=parameters)

    @router.get("/jobs", response_model=list[JobSummary])
    async def list_jobs(limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[JobSummary]:
        return [_summary(service, job) for job in service.store.list_jobs(limit)]

    @router.get("/jobs/{job_id}", response_model=JobDetail, responses={404: {"model": ErrorBody}})
    async def get_job(job_id: str) -> JobDetail:
        return _detail(service, find(job_id))

    @router.get("/jobs/{job_id}/events", responses={404: {"model": ErrorBody}})
    async def events(
        job_id: str,
        request: Request,
        after: Annotated[int, Query(ge=0, le=MAX_INT64)] = 0,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> EventSourceResponse:
        """The job's events as server-sent events, from the start (or after `Last-Event-ID`)."""
        find(job_id)
        start = resume_after(last_event_id, after)

        async def stream() -> AsyncIterator[dict[str, Any]]:
            import json

            async for seq, data in service.follow(job_id, start):
                yield {"id": str(seq), "event": data.get("kind", "event"), "data": json.dumps(data)}

        return EventSourceResponse(gate.while_valid(request, stream()), ping=15)

    @router.get(
        "/jobs/{job_id}/items", response_model=JobItems, responses={404: {"model": ErrorBody}}
    )
    async def items(
        job_id: str,
        map_seq: Annotated[int, Query(alias="map", ge=1, le=MAX_INT64)] = 1,
        after: Annotated[int, Query(ge=-1, le=MAX_INT64)] = -1,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> JobItems:
        """The items map `map` of the job (1: its first `Grid.ForEach`) has committed, with an
        index above `after`, by index, while the job runs or after it ended: a client brings
        results back as they come (the Blender add-on its frames). The job's maps so far are
        listed with it."""
        find(job_id)
        maps, page = service.items(job_id, map_seq, after, limit)
        return JobItems(
            job_id=job_id,
            maps=[MapSummary(seq=m.seq, activity=m.activity, count=m.count) for m in maps],
            map=map_seq,
            items=[ItemResult(index=i, value=v, error=e) for i, v, e in page],
            next_after=page[-1][0] if len(page) == limit else None,
        )

    _control_routes(router, service, find, gate)
    _rerun_route(router, service, find, gate)
    return router


def _check_submitter(gate: AuthGate, connection: Request, job: JobRecord, action: str) -> None:
    """Only a job's submitter or an admin may act on it."""
    principal = principal_of(connection)
    if principal.role is not Role.ADMIN and job.owner != principal.token_id:
        gate.audit(connection, f"job.{action}", "refused: not its submitter", job.id)
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"job {job.id} was submitted with another token: only its submitter "
            f"or an admin may {action} it",
        )


def _control_routes(
    router: APIRouter, service: HubService, find: Callable[[str], JobRecord], gate: AuthGate
) -> None:
    """POST /jobs/{id}/cancel, /pause and /resume: a submitter's own jobs, or any for an admin."""
    for action in ("cancel", "pause", "resume"):

        def make(action: str = action) -> Callable[[str, Request], Awaitable[JobSummary]]:
            async def act(job_id: str, connection: Request) -> JobSummary:
                job = find(job_id)
                _check_submitter(gate, connection, job, action)
                done = getattr(service, action)(job_id)
                gate.audit(connection, f"job.{action}", "ok" if done else job.status, job_id)
                if not done:
                    raise HTTPException(
                        status.HTTP_409_CONFLICT,
                        f"cannot {action} job {job_id}: it is {job.status}",
                    )
                return _summary(service, find(job_id))

            act.__name__ = f"{action}_job"
            act.__doc__ = f"{action.capitalize()} a job."
            return act

        router.add_api_route(
            f"/jobs/{{job_id}}/{action}",
            make(),
            methods=["POST"],
            response_model=JobSummary,
            responses={
                403: {"model": ErrorBody},
                404: {"model": ErrorBody},
                409: {"model": ErrorBody},
            },
        )


def _rerun_route(
    router: APIRouter, service: HubService, find: Callable[[str], JobRecord], gate: AuthGate
) -> None:
    @router.post(
        "/jobs/{job_id}/rerun",
        status_code=status.HTTP_201_CREATED,
        response_model=JobSummary,
        responses={
            403: {"model": ErrorBody},
            404: {"model": ErrorBody},
            409: {"model": ErrorBody},
        },
    )
    async def rerun_job(job_id: str, connection: Request) -> JobSummary:
        """Run a failed or cancelled job again as a new job (its `rerun_of` names this one):
        items it committed keep their results, only the others run. A job that completed or has
        not ended is a 409 saying why."""
        job = find(job_id)
        _check_submitter(gate, connection, job, "re-run")
        try:
            new = await service.rerun(job_id, owner=principal_of(connection).token_id)
        except RerunRefused as error:
            gate.audit(connection, "job.rerun", f"refused: {job.status}", job_id)
            raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
        gate.audit(connection, "job.rerun", "ok", f"{job_id} -> {new.id}")
        return _summary(service, new)
