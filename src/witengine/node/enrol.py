"""A node's credential: enrolment with a join token, or an ask to join without one, and the
file that keeps the result.

`wit node --token <join token>` presents the join token once (pinning the hub's certificate from
the token first, when the hub is https), receives the node's own revocable credential and id,
and keeps them with the pin in `credential.json` (mode 600) in its cache folder; restarts use
that file and need no token. Without a token, a node on a hub's local network asks to join
(`ask_to_join`, a hub started with --approve-lan) with its own key (`security.node_keys`) and is
given its credential once an admin has approved it.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from pydantic import ValidationError

from witengine.errors import WitError
from witengine.protocol import API_PREFIX, Capabilities
from witengine.protocol.auth import Enrolment, EnrolRequest, JoinAsk, JoinWaiting
from witengine.security.connect import plain_hub, transport_options, wrong_scheme
from witengine.security.files import read_private, write_private
from witengine.security.node_keys import NodeKey
from witengine.security.tls import pin_failure, untrusted_certificate
from witengine.security.tokens import Role, TokenError, parse_token

CREDENTIAL_FILE = "credential.json"


class NodeRefused(WitError):
    """The hub refused this node's token or credential; the message says what to do."""


class HubUnreachable(WitError):
    """The hub could not be reached to enrol (not started yet, say): worth trying again."""


class HubUntrusted(NodeRefused):
    """This node refuses the hub: its certificate does not match the node's pin, or nothing
    vouches for it. Trying again cannot mend that, so the node stops and says why."""


def untrusted_hub(hub_url: str, error: BaseException, pin_file: Path | None = None) -> str | None:
    """Why the hub's certificate is refused, in words, when that is what `error` is about.

    `pin_file` is where the node keeps the pin that did not match (its credential), named as
    the file to remove when the hub's certificate was replaced on purpose."""
    mismatch = pin_failure(error)
    if mismatch is not None and pin_file is not None:
        return (
            f"the hub at {hub_url} presented certificate {mismatch.presented}, but this node is "
            f"pinned to {mismatch.pinned}; if the hub's certificate was replaced on purpose, "
            f"remove {pin_file} and enrol this node again with a new join token"
        )
    if mismatch is not None:
        return str(mismatch)
    untrusted = untrusted_certificate(error)
    if untrusted is not None:
        return (
            f"the hub at {hub_url} presented a certificate this node does not trust "
            f"({untrusted.verify_message or untrusted}); give the node the hub's fingerprint: a "
            "join token made on the hub (it carries it) or --fingerprint"
        )
    return None


@dataclass(frozen=True)
class Credential:
    hub_url: str
    node_id: str | None  # None for a node credential given as is
    token_id: str
    token: str
    fingerprint: str | None = None  # the hub's certificate, pinned at enrolment
    joined: bool = False  # given for an ask without a token, which the node may make again


def load_credential(path: Path) -> Credential | None:
    """The credential kept in `path`, or None when there is none (or it is unreadable)."""
    text = read_private(path)
    if text is None:
        return None
    try:
        data = json.loads(text)
        return Credential(**{k: data.get(k) for k in Credential.__dataclass_fields__})
    except (ValueError, TypeError):
        return None


def save_credential(path: Path, credential: Credential) -> None:
    write_private(path, json.dumps(asdict(credential), indent=2) + "\n")


def pin_for(hub_url: str, token_fingerprint: str | None, given: str | None) -> str | None:
    """The fingerprint to pin: the one given explicitly, else the one the join token carries."""
    return given or token_fingerprint


def token_kind(token: str) -> str:
    """What `wit node --token` was given: `join` (to enrol with) or `node` (a node's own
    credential, used as is); NodeRefused, saying which token a node needs, for anything else."""
    try:
        kind = parse_token(token).kind
    except TokenError as error:
        raise NodeRefused(f"--token: {error}") from None
    if kind not in (Role.JOIN.value, Role.NODE.value):
        raise NodeRefused(
            f"--token: this is {'an' if kind[0] in 'aeiou' else 'a'} {kind} token, which a node "
            "cannot use; a node needs a join token, made on the hub's machine with `wit token "
            "create --role node`: it presents it once, to enrol, and keeps its own credential"
        )
    return kind


async def enrol(
    hub_url: str,
    join_token: str,
    name: str,
    *,
    fingerprint: str | None = None,
    insecure: bool = False,
    previous: Credential | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Credential:
    """Trade a join token for this node's credential; NodeRefused when the hub says no,
    HubUnreachable when it cannot be reached. `previous`: the credential this node had from
    this hub (revoked, say), which the hub takes as proof that it is the same node: it keeps
    its id rather than leaving a second node of its name."""
    if token_kind(join_token) != Role.JOIN.value:
        raise NodeRefused("--token: a node credential, not a join token")
    presented = parse_token(join_token)
    pin = pin_for(hub_url, presented.fingerprint, fingerprint)
    if hub_url.lower().startswith("https://") and pin is None:
        raise NodeRefused(
            await asyncio.to_thread(plain_hub, hub_url)  # https:// given for a plain hub
            or "the join token carries no certificate fingerprint to pin the https hub with: "
            "make it with `wit token create --role node` on a hub started with --tls, or pass "
            "--fingerprint"
        )
    headers, verify = transport_options(
        hub_url, join_token, pin, insecure=insecure, who="this node"
    )
    async with httpx.AsyncClient(
        base_url=hub_url.rstrip("/") + API_PREFIX,
        headers=headers,
        verify=verify,
        timeout=30.0,
        transport=transport,
    ) as client:
        former = previous.token if previous is not None and previous.hub_url == hub_url else None
        request = EnrolRequest(name=name, previous=former)
        try:
            response = await client.post("/nodes/enrol", json=request.model_dump())
        except httpx.HTTPError as error:
            refusal = untrusted_hub(hub_url, error)
            if refusal is not None:
                raise HubUntrusted(refusal) from None
            other = wrong_scheme(hub_url, error)
            if other is not None:  # trying again cannot mend that either
                raise NodeRefused(other) from None
            raise HubUnreachable(f"cannot reach the hub at {hub_url} to enrol: {error}") from None
    if response.status_code >= 500:  # a hub starting or stopping: it may take us in a moment
        raise HubUnreachable(f"the hub answered {_detail(response)}")
    if response.status_code != 201:
        raise NodeRefused(f"the hub refused to enrol this node: {_detail(response)}")
    try:
        enrolment = Enrolment.model_validate_json(response.content)
    except ValidationError as error:
        raise NodeRefused(f"the hub's answer to the enrolment is invalid: {error}") from None
    return Credential(hub_url, enrolment.node_id, enrolment.token_id, enrolment.token, pin)


async def ask_to_join(
    hub_url: str,
    key: NodeKey,
    name: str,
    machine: Capabilities,
    *,
    fingerprint: str | None = None,
    waiting: JoinWaiting | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Credential | JoinWaiting:
    """Ask the hub to let this node join without a token: its credential once an admin has
    approved it (the ask signs the challenge of the hub's last answer, `waiting`), else where
    it stands and the challenge to sign next. NodeRefused when the hub says no (refused,
    revoked, a public address, a hub without --approve-lan), HubUnreachable when it cannot be
    reached. Nothing secret is sent: the hub learns the node's public key and machine."""
    headers, verify = transport_options(hub_url, None, fingerprint, who="this node")
    signed = (
        {"challenge": waiting.challenge, "signature": key.sign(waiting.challenge)}
        if waiting is not None
        else {}
    )
    body = JoinAsk(name=name, public_key=key.public_key, machine=machine, **signed)
    async with httpx.AsyncClient(
        base_url=hub_url.rstrip("/") + API_PREFIX,
        headers=headers,
        verify=verify,
        timeout=30.0,
        transport=transport,
    ) as client:
        try:
            response = await client.post("/nodes/join", json=body.model_dump())
        except httpx.HTTPError as error:
            refusal = untrusted_hub(hub_url, error)
            if refusal is not None:
                raise HubUntrusted(refusal) from None
            other = wrong_scheme(hub_url, error)
            if other is not None:
                raise NodeRefused(other) from None
            raise HubUnreachable(f"cannot reach the hub at {hub_url} to join: {error}") from None
    if response.status_code >= 500 or response.status_code == 429:  # busy: ask again later
        raise HubUnreachable(f"the hub answered {_detail(response)}")
    try:
        if response.status_code == 202:
            return JoinWaiting.model_validate_json(response.content)
        if response.status_code == 201:
            enrolment = Enrolment.model_validate_json(response.content)
            return Credential(
                hub_url,
                enrolment.node_id,
                enrolment.token_id,
                enrolment.token,
                fingerprint,
                joined=True,
            )
    except ValidationError as error:
        raise NodeRefused(f"the hub's answer to the ask to join is invalid: {error}") from None
    detail = _detail(response).partition(" ")[2]
    raise NodeRefused(f"the hub {hub_url} refused to let this node join: {detail}")


def as_given(hub_url: str, token: str, fingerprint: str | None) -> Credential:
    """A credential from a node credential given as is."""
    token_kind(token)
    return Credential(hub_url, None, parse_token(token).token_id, token, fingerprint)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
        detail = body.get("detail") if isinstance(body, dict) else None
    except ValueError:
        detail = None
    return f"{response.status_code} {detail or response.text[:200]}"
