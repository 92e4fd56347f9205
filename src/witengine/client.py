"""Talking to a hub from Python: upload files, submit jobs, follow them, fetch their results.

`HubClient` is what the CLI uses for `wit run --hub`, `wit jobs`, `wit nodes` and the rest, and
what any program can use. Files go up by content: the client asks whether the hub has a digest
and sends only what it lacks.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from witengine.clock import wall_time
from witengine.errors import WitError
from witengine.protocol import (
    API_PREFIX,
    BlobRef,
    JobDetail,
    JobSummary,
    NodeDrain,
    NodeForgotten,
    NodeSummary,
    SubmitJob,
)
from witengine.protocol.auth import (
    AuditLine,
    IssuedToken,
    JoinInfo,
    NodeRevoked,
    TokenInfo,
    WhoAmI,
)
from witengine.protocol.board import BoardValue
from witengine.protocol.events import JobEvent, JobFinished, parse_event
from witengine.protocol.exchange import (
    AccountInfo,
    AskInfo,
    Balance,
    Grant,
    LedgerVerdict,
    MandateInfo,
    NewAccount,
    NewAsk,
    NewMandate,
    TradeDetail,
    TradeInfo,
    TransactionLine,
    Transfer,
)
from witengine.protocol.folders import FileTaken, Resources, TakeFile
from witengine.protocol.pools import NodePlaced, NodePlacement, PoolInfo
from witengine.security.accounts import AccountKey
from witengine.security.connect import transport_options, wrong_scheme
from witengine.security.signing import sign_request
from witengine.security.tls import pin_failure, untrusted_certificate

log = logging.getLogger(__name__)
CHUNK = 1 << 20


class HubError(WitError):
    """The hub refused a request or could not be reached; the message says why."""

    def __init__(self, message: str, status: int = 0, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


TRANSFER_PATH = "/ledger/transfers"


def signed_headers(key: AccountKey, method: str, path: str, body: bytes = b"") -> dict[str, str]:
    """The headers that sign a request to the API's `path` (under /api/v1) with the account's
    key, now: what the CLI and the node's owner console send. The key never leaves this
    process; only the signature does."""
    return sign_request(key.private, key.name, method, API_PREFIX + path, body, wall_time())


def transfer_request(
    key: AccountKey, to: str, amount: int, memo: str = ""
) -> tuple[bytes, dict[str, str]]:
    """A transfer's body and signed headers: `amount` milli-credits from the key's account."""
    body = Transfer(to=to, amount=amount, memo=memo).model_dump_json().encode()
    headers = signed_headers(key, "POST", TRANSFER_PATH, body)
    return body, {**headers, "content-type": "application/json"}


def file_digest(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _copy_verified(source: Path, partial: Path, sha256: str) -> bool:
    """Copy a blob from a hub's folder on this machine; False (and nothing left) when it is not
    there or not whole, and it is to be downloaded instead."""
    if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
        return False  # never a path of the hub's choosing
    try:
        shutil.copyfile(source, partial)
    except OSError:
        return False
    if file_digest(partial)[0] == sha256:
        return True
    partial.unlink()
    return False


def reach_error(url: str, error: BaseException) -> HubError:
    """Why the hub at `url` could not be reached, in words: a certificate that does not match
    its pin, or that nothing vouches for, is named as such."""
    mismatch = pin_failure(error)
    if mismatch is not None:
        return HubError(str(mismatch))
    untrusted = untrusted_certificate(error)
    if untrusted is not None:
        return HubError(
            f"the hub at {url} presented a certificate this machine does not trust "
            f"({untrusted.verify_message or untrusted}); pin it with --fingerprint (or "
            "WIT_FINGERPRINT): `wit hub --show-fingerprint` prints it on the hub's machine"
        )
    other = wrong_scheme(url, error)
    if other is not None:
        return HubError(other)
    return HubError(f"cannot reach the hub at {url}: {error}")


@dataclass(frozen=True)
class HubAccess:
    """How to reach one hub: its URL, the token to present, the pin to check it against (see
    `HubClient`)."""

    url: str
    token: str | None = None
    fingerprint: str | None = None
    insecure: bool = False
    pin_file: Path | None = None
    blob_dir: Path | None = None  # the hub's blob folder, when it is this machine's to read

    def client(self) -> HubClient:
        return HubClient(
            self.url,
            token=self.token,
            fingerprint=self.fingerprint,
            insecure=self.insecure,
            pin_file=self.pin_file,
            blob_dir=self.blob_dir,
        )


class HubClient:
    """One hub's API. With `token` it authenticates as `Authorization: Bearer`; an https hub is
    checked against `fingerprint`, else the pin saved in `pin_file` (where a matching given
    fingerprint is saved too). A token is never sent over plain HTTP off loopback unless
    `insecure` (InsecureTransport). With `blob_dir`, the hub's own blob folder on this machine
    (the embedded farm's), files found there are copied rather than downloaded."""

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        fingerprint: str | None = None,
        insecure: bool = False,
        pin_file: Path | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        blob_dir: Path | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.blob_dir = blob_dir
        headers, verify = transport_options(
            self.url, token, fingerprint, insecure=insecure, pin_file=pin_file
        )
        self.http = httpx.AsyncClient(
            base_url=self.url + API_PREFIX,
            headers=headers,
            verify=verify,
            timeout=httpx.Timeout(30.0, read=300.0),
            transport=transport,
        )

    async def __aenter__(self) -> HubClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise reach_error(self.url, error) from None
        if response.status_code >= 400:
            try:
                body = response.json()
                detail = body.get("detail", response.text) if isinstance(body, dict) else body
            except ValueError:
                body, detail = None, response.text
            raise HubError(str(detail), response.status_code, body)
        return response

    async def health(self) -> dict[str, Any]:
        result: dict[str, Any] = (await self._request("GET", "/health")).json()
        return result

    async def upload(self, path: Path) -> BlobRef:
        """Send a file unless the hub has its content already (OSError when it cannot be read)."""
        sha256, size = await asyncio.to_thread(file_digest, path)
        try:
            head = await self.http.head(f"/blobs/{sha256}")
        except httpx.HTTPError as error:
            raise reach_error(self.url, error) from None
        if head.status_code != 200:

            async def body() -> AsyncIterator[bytes]:
                with path.open("rb") as handle:
                    while chunk := handle.read(CHUNK):
                        yield chunk

            await self._request("PUT", f"/blobs/{sha256}", content=body())
        return BlobRef(sha256=sha256, size=size, name=path.name)

    async def download(self, sha256: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        if self.blob_dir is not None and await asyncio.to_thread(
            _copy_verified, self.blob_dir / sha256[:2] / sha256, partial, sha256
        ):
            partial.replace(target)
            return
        async with self.http.stream("GET", f"/blobs/{sha256}") as response:
            if response.status_code != 200:
                raise HubError(f"cannot download blob {sha256}: {response.status_code}")
            with partial.open("wb") as handle:
                async for chunk in response.aiter_bytes(CHUNK):
                    handle.write(chunk)
        if (await asyncio.to_thread(file_digest, partial))[0] != sha256:
            partial.unlink()
            raise HubError(f"blob {sha256} arrived corrupted")
        partial.replace(target)

    async def submit(self, job: SubmitJob, signer: AccountKey | None = None) -> JobSummary:
        """Submit a job; one with a bid is signed with `signer`, the account that pays."""
        if signer is None:
            response = await self._request("POST", "/jobs", json=job.model_dump())
        else:
            response = await self._signed("POST", "/jobs", signer, job.model_dump_json().encode())
        return JobSummary.model_validate(response.json())

    async def _signed(
        self, method: str, path: str, key: AccountKey, body: bytes = b""
    ) -> httpx.Response:
        """A request signed with the account's key (see docs/exchange.md)."""
        headers = sign_request(key.private, key.name, method, API_PREFIX + path, body, wall_time())
        headers["content-type"] = "application/json"
        return await self._request(method, path, content=body, headers=headers)

    async def add_ask(self, key: AccountKey, ask: NewAsk) -> AskInfo:
        """A standing offer of the key's account's nodes, signed with its key."""
        response = await self._signed("POST", "/asks", key, ask.model_dump_json().encode())
        return AskInfo.model_validate(response.json())

    async def asks(self, account: str | None = None) -> list[AskInfo]:
        params = {"account": account} if account is not None else {}
        data = (await self._request("GET", "/asks", params=params)).json()
        return [AskInfo.model_validate(a) for a in data]

    async def remove_ask(self, key: AccountKey, ask_id: str) -> None:
        await self._signed("DELETE", f"/asks/{ask_id}", key)

    async def add_mandate(self, key: AccountKey, mandate: NewMandate) -> MandateInfo:
        """A standing rule of the key's account, signed with its key."""
        body = mandate.model_dump_json().encode()
        return MandateInfo.model_validate(
            (await self._signed("POST", "/mandates", key, body)).json()
        )

    async def mandates(self, account: str | None = None) -> list[MandateInfo]:
        params = {"account": account} if account is not None else {}
        data = (await self._request("GET", "/mandates", params=params)).json()
        return [MandateInfo.model_validate(m) for m in data]

    async def change_mandate(self, key: AccountKey, mandate_id: str, action: str) -> MandateInfo:
        """Pause or resume a mandate (`action`), signed with its account's key."""
        answer = await self._signed("POST", f"/mandates/{mandate_id}/{action}", key)
        return MandateInfo.model_validate(answer.json())

    async def remove_mandate(self, key: AccountKey, mandate_id: str) -> None:
        await self._signed("DELETE", f"/mandates/{mandate_id}", key)

    async def trades(
        self, job: str | None = None, account: str | None = None, limit: int = 1000
    ) -> list[TradeInfo]:
        params: dict[str, Any] = {"limit": limit}
        params.update({k: v for k, v in (("job", job), ("account", account)) if v is not None})
        data = (await self._request("GET", "/trades", params=params)).json()
        return [TradeInfo.model_validate(t) for t in data]

    async def trade(self, trade_id: str) -> TradeDetail:
        return TradeDetail.model_validate(
            (await self._request("GET", f"/trades/{trade_id}")).json()
        )

    async def job(self, job_id: str) -> JobDetail:
        return JobDetail.model_validate((await self._request("GET", f"/jobs/{job_id}")).json())

    async def jobs(self, limit: int = 100) -> list[JobSummary]:
        data = (await self._request("GET", "/jobs", params={"limit": limit})).json()
        return [JobSummary.model_validate(j) for j in data]

    async def nodes(self) -> list[NodeSummary]:
        data = (await self._request("GET", "/nodes")).json()
        return [NodeSummary.model_validate(n) for n in data]

    async def drain_node(self, node_id: str, drained: bool = True) -> NodeDrain:
        """Drain a node (it finishes what it holds, gets nothing new), or give it work again."""
        response = await self._request(
            "POST", f"/nodes/{node_id}/{'drain' if drained else 'resume'}"
        )
        return NodeDrain.model_validate(response.json())

    async def place_node(
        self, node_id: str, *, pool: str | None = None, owner: str | None = None
    ) -> NodePlaced:
        """Move a node to another pool, or give it another owner ("": its own); admins only."""
        body = NodePlacement(pool=pool, owner=owner).model_dump(exclude_none=True)
        response = await self._request("POST", f"/nodes/{node_id}/place", json=body)
        return NodePlaced.model_validate(response.json())

    async def pools(self) -> list[PoolInfo]:
        """Every pool, with its tier and how many nodes it holds."""
        data = (await self._request("GET", "/pools")).json()
        return [PoolInfo.model_validate(p) for p in data]

    async def add_pool(self, name: str, tier: str) -> PoolInfo:
        body = {"name": name, "tier": tier}
        return PoolInfo.model_validate((await self._request("POST", "/pools", json=body)).json())

    async def change_pool(self, name: str, tier: str) -> PoolInfo:
        """Set a pool's tier: trusted or untrusted."""
        response = await self._request("PATCH", f"/pools/{name}", json={"tier": tier})
        return PoolInfo.model_validate(response.json())

    async def forget_node(self, node_id: str) -> NodeForgotten:
        response = await self._request("DELETE", f"/nodes/{node_id}")
        return NodeForgotten.model_validate(response.json())

    async def join_requests(self) -> list[JoinInfo]:
        """Every node that asked to join without a token, and where it stands."""
        data = (await self._request("GET", "/join-requests")).json()
        return [JoinInfo.model_validate(j) for j in data]

    async def answer_join(self, node_id: str, approve: bool) -> JoinInfo:
        """Approve a node that asked to join without a token, or refuse it."""
        action = "approve" if approve else "refuse"
        response = await self._request("POST", f"/join-requests/{node_id}/{action}")
        return JoinInfo.model_validate(response.json())

    async def revoke_node(self, node_id: str) -> NodeRevoked:
        """Put a node out: its credentials revoked; refused when it asks again."""
        response = await self._request("POST", f"/nodes/{node_id}/revoke")
        return NodeRevoked.model_validate(response.json())

    async def whoami(self) -> WhoAmI:
        return WhoAmI.model_validate((await self._request("GET", "/whoami")).json())

    async def create_token(
        self,
        role: str,
        *,
        ttl: str | None = None,
        label: str = "",
        uses: int | None = None,
        pool: str | None = None,
        owner: str | None = None,
    ) -> IssuedToken:
        """Make a token (admins only); `node` makes a join token, whose nodes join `pool`
        with `owner`."""
        body = {"role": role, "ttl": ttl, "label": label, "uses": uses}
        body |= {"pool": pool, "owner": owner}
        response = await self._request("POST", "/tokens", json=body)
        return IssuedToken.model_validate(response.json())

    async def tokens(self) -> list[TokenInfo]:
        data = (await self._request("GET", "/tokens")).json()
        return [TokenInfo.model_validate(t) for t in data]

    async def revoke_token(self, token_id: str) -> TokenInfo:
        response = await self._request("POST", f"/tokens/{token_id}/revoke")
        return TokenInfo.model_validate(response.json())

    async def audit(self, limit: int = 100) -> list[AuditLine]:
        data = (await self._request("GET", "/audit", params={"limit": limit})).json()
        return [AuditLine.model_validate(line) for line in data]

    # the exchange: accounts and the credit ledger (amounts in milli-credits)
    async def register_account(self, name: str, public_key: str) -> AccountInfo:
        body = NewAccount(name=name, public_key=public_key).model_dump()
        response = await self._request("POST", "/accounts", json=body)
        return AccountInfo.model_validate(response.json())

    async def accounts(self) -> list[AccountInfo]:
        data = (await self._request("GET", "/accounts")).json()
        return [AccountInfo.model_validate(a) for a in data]

    async def approve_account(self, name: str) -> AccountInfo:
        response = await self._request("POST", f"/accounts/{name}/approve")
        return AccountInfo.model_validate(response.json())

    async def grant(self, name: str, amount: int, memo: str = "") -> TransactionLine:
        """Mint `amount` milli-credits into an account (admins only)."""
        body = Grant(amount=amount, memo=memo).model_dump()
        response = await self._request("POST", f"/accounts/{name}/grant", json=body)
        return TransactionLine.model_validate(response.json())

    async def balance(self, name: str) -> Balance:
        return Balance.model_validate(
            (await self._request("GET", f"/accounts/{name}/balance")).json()
        )

    async def transfer(
        self, key: AccountKey, to: str, amount: int, memo: str = ""
    ) -> TransactionLine:
        """Pay `to` from the key's account, the request signed with its key."""
        body, headers = transfer_request(key, to, amount, memo)
        response = await self._request("POST", TRANSFER_PATH, content=body, headers=headers)
        return TransactionLine.model_validate(response.json())

    async def ledger(self, account: str | None = None) -> list[TransactionLine]:
        """The ledger's transactions; an account's statement, with its running balance."""
        params = {"account": account} if account is not None else {}
        data = (await self._request("GET", "/ledger", params=params)).json()
        return [TransactionLine.model_validate(t) for t in data]

    async def verify_ledger(self) -> LedgerVerdict:
        return LedgerVerdict.model_validate((await self._request("GET", "/ledger/verify")).json())

    async def act(self, job_id: str, action: str) -> JobSummary:
        """`cancel`, `pause` or `resume` a job."""
        response = await self._request("POST", f"/jobs/{job_id}/{action}")
        return JobSummary.model_validate(response.json())

    async def rerun(self, job_id: str) -> JobSummary:
        """Run a failed or cancelled job again as a new job; only items without a result run."""
        response = await self._request("POST", f"/jobs/{job_id}/rerun")
        return JobSummary.model_validate(response.json())

    # the blackboard
    # job folders
    async def resources(self) -> Resources:
        return Resources.model_validate((await self._request("GET", "/resources")).json())

    async def take(self, request: TakeFile) -> FileTaken:
        answer = await self._request("POST", "/folders/take", json=request.model_dump())
        return FileTaken.model_validate(answer.json())

    async def board_get(self, key: str) -> BoardValue:
        return BoardValue.model_validate((await self._request("GET", f"/board/{key}")).json())

    async def board_set(
        self, key: str, value: Any, *, if_version: int | None = None, create: bool = False
    ) -> BoardValue:
        """Write the key's next version: only at version `if_version` when given, only when
        the key has no value when `create` (else HubError with status 412)."""
        headers = {"If-Match": str(if_version)} if if_version is not None else {}
        headers |= {"If-None-Match": "*"} if create else {}
        answer = await self._request("PUT", f"/board/{key}", json={"value": value}, headers=headers)
        return BoardValue.model_validate(answer.json())

    async def board_delete(self, key: str, *, if_version: int | None = None) -> BoardValue:
        headers = {"If-Match": str(if_version)} if if_version is not None else {}
        answer = await self._request("DELETE", f"/board/{key}", headers=headers)
        return BoardValue.model_validate(answer.json())

    async def board_list(self, prefix: str = "", limit: int = 1000) -> list[BoardValue]:
        answer = await self._request("GET", "/board", params={"prefix": prefix, "limit": limit})
        return [BoardValue.model_validate(v) for v in answer.json()]

    async def board_history(self, key: str, limit: int = 100) -> list[BoardValue]:
        answer = await self._request("GET", f"/board/{key}/history", params={"limit": limit})
        return [BoardValue.model_validate(v) for v in answer.json()]

    async def board_changes(
        self, since: int = 0, prefix: str = "", *, follow: bool = True
    ) -> AsyncIterator[BoardValue]:
        """Changes after `since`, in order; then (`follow`) each new one, reconnecting from the
        last seen when the stream is cut."""
        import json

        seen, failures = since, 0
        while True:
            params = {"since": seen, "prefix": prefix, "follow": str(follow).lower()}
            try:
                async with aconnect_sse(
                    self.http,
                    "GET",
                    "/board-changes",
                    params=params,
                    timeout=httpx.Timeout(30.0, read=None),
                ) as source:
                    if source.response.status_code >= 400:
                        await source.response.aread()
                        raise HubError(source.response.text, source.response.status_code)
                    async for event in source.aiter_sse():
                        if event.event != "change" or not event.data:
                            continue
                        change = BoardValue.model_validate(json.loads(event.data))
                        seen, failures = change.seq, 0
                        yield change
                if not follow:
                    return
            except httpx.HTTPError as error:
                if untrusted_certificate(error) is not None:
                    raise reach_error(self.url, error) from None
                failures += 1
                if failures > 60:
                    raise HubError(f"lost the hub at {self.url}: {error}") from None
                await asyncio.sleep(min(0.2 * failures, 2.0))

    async def events(self, job_id: str, after: int = 0) -> AsyncIterator[JobEvent]:
        """The job's events until it ends, reconnecting (from the last one seen) when cut off;
        kinds this version does not know are skipped."""
        import json

        seen = after
        failures = 0
        while True:
            try:
                async with aconnect_sse(
                    self.http,
                    "GET",
                    f"/jobs/{job_id}/events",
                    params={"after": seen},
                    timeout=httpx.Timeout(30.0, read=None),
                ) as source:
                    if source.response.status_code >= 400:
                        await source.response.aread()
                        raise HubError(
                            f"no events for job {job_id}: {source.response.text}",
                            source.response.status_code,
                        )
                    async for event in source.aiter_sse():
                        if not event.data:
                            continue
                        if event.id and event.id.isdigit():
                            seen = int(event.id)
                        failures = 0
                        parsed = parse_event(json.loads(event.data))
                        if parsed is None:
                            continue
                        yield parsed
                        if isinstance(parsed, JobFinished):
                            return
                job = await self.job(job_id)
                if job.status.ended:
                    return
            except (httpx.HTTPError, HubError) as error:
                if isinstance(error, HubError) and error.status == 404:
                    raise
                if untrusted_certificate(error) is not None:  # trying again cannot help
                    raise reach_error(self.url, error) from None
                failures += 1
                if failures > 60:
                    raise HubError(f"lost the hub at {self.url}: {error}") from None
                log.info("event stream cut (%s); reconnecting", error)
                await asyncio.sleep(min(0.2 * failures, 2.0))
