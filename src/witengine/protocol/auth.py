"""Wire models of tokens, enrolment and the audit log (`/api/v1/tokens`, `/nodes/enrol`,
`/audit`, `/whoami`). Secrets appear only in the answers that hand a new token over."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from witengine.protocol import Answer, Capabilities, Model
from witengine.protocol.base import PoolName
from witengine.protocol.states import Admission
from witengine.security.tokens import MAX_LABEL, Role

MAX_USES = 1_000_000  # a join token for more nodes than this is a mistake


class CreateToken(Model):
    role: Role  # `join` (or `node`, which means the same here) makes a join token
    ttl: Annotated[str | None, Field(max_length=40)] = None  # e.g. 8h, 30d; None: never expires
    label: Annotated[str, Field(max_length=MAX_LABEL)] = ""
    uses: Annotated[int | None, Field(ge=1, le=MAX_USES)] = None  # join tokens: nodes it may enrol
    # Join tokens: the pool the nodes it enrols join (None: default), and their owner (None:
    # each node is its own).
    pool: PoolName | None = None
    owner: Annotated[str | None, Field(min_length=1, max_length=200)] = None


class TokenInfo(Answer):
    """A token as listed: never its secret."""

    id: str
    role: Role
    label: str
    created_at: float
    expires_at: float | None = None
    revoked_at: float | None = None
    last_used: float | None = None
    node_id: str | None = None
    created_by: str | None = None
    max_uses: int | None = None
    uses: int = 0
    pool: str | None = None  # join tokens and node credentials: the pool, the owner
    owner: str | None = None


class IssuedToken(TokenInfo):
    """A token just made: `token` is shown this once and kept nowhere in clear."""

    token: str


class EnrolRequest(Model):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    # The credential the node had from this hub (revoked, say): proof that it is the same
    # node, which then keeps its id rather than leaving a second node of its name.
    previous: Annotated[str | None, Field(max_length=400)] = None


class Enrolment(Answer):
    """A node's own credential, given once in exchange for a join token."""

    node_id: str
    token_id: str
    token: str


class WhoAmI(Answer):
    token_id: str
    role: Role
    label: str = ""
    node_id: str | None = None


class AuditLine(Answer):
    seq: int
    at: float
    action: str
    outcome: str
    actor_id: str | None = None
    actor_role: str | None = None
    address: str = ""
    target: str = ""


# ------------------------------------------------- joining without a token (--approve-lan)

PUBLIC_KEY_CHARS = 44  # an Ed25519 public key (32 bytes) in base64, padded
SIGNATURE_CHARS = 88  # an Ed25519 signature (64 bytes) in base64, padded


class JoinAsk(Model):
    """A node without a token asking a hub to let it join (`POST /nodes/join`): its name, its
    public key (whose fingerprint the admin compares), its machine, and, once the hub gave it a
    challenge, the challenge signed with its private key, which proves that it holds the key."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    public_key: Annotated[str, Field(min_length=PUBLIC_KEY_CHARS, max_length=PUBLIC_KEY_CHARS)]
    machine: Capabilities
    challenge: Annotated[str | None, Field(max_length=100)] = None
    signature: Annotated[str | None, Field(max_length=SIGNATURE_CHARS)] = None


class JoinWaiting(Answer):
    """The hub's answer to a node that may not have its credential yet: where it stands, and a
    challenge to sign in its next ask."""

    node_id: str
    state: Admission
    fingerprint: str
    challenge: str


class JoinInfo(Answer):
    """A node that asked to join without a token, as admins see it."""

    node_id: str
    name: str
    address: str
    fingerprint: str
    machine: Capabilities
    state: Admission
    asked_at: float
    seen_at: float
    decided_at: float | None = None
    decided_by: str | None = None


class NodeRevoked(Answer):
    """A node put out of the farm: its credentials revoked, and, when it joined without a
    token, where its key now stands (`revoked`)."""

    id: str
    name: str
    revoked: list[str]
    state: Admission | None = None
