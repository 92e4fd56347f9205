"""Which roles may use each route: one table, read by the gate every request passes.

Keys are (method, route path) as FastAPI declares them (`WS` for WebSockets; HEAD falls back to
GET). A route missing from the table is for admins only, so a new route is closed until someone
decides who may use it. Finer rules live beside the data they need: a submitter controls only the
jobs it submitted (job routes), a node reads only the blobs of batches it holds (blob routes), and
the dispatcher takes a node's results only for batches leased to that node.
"""

from __future__ import annotations

from witengine.protocol import API_PREFIX
from witengine.security.tokens import Role

# The health check, and a node's ask to join without a token, which the admissions route
# checks itself (the hub's --approve-lan, the client's address) and which grants nothing.
PUBLIC = frozenset({("GET", f"{API_PREFIX}/health"), ("POST", f"{API_PREFIX}/nodes/join")})

ADMIN = frozenset({Role.ADMIN})
SUBMIT = frozenset({Role.ADMIN, Role.SUBMITTER})
READ = frozenset({Role.ADMIN, Role.SUBMITTER, Role.VIEWER})
READ_AND_NODES = READ | {Role.NODE}

_A = API_PREFIX
RULES: dict[tuple[str, str], frozenset[Role]] = {
    # the hub itself
    ("GET", "/openapi.json"): READ,  # what /docs loads: the same roles
    ("GET", "/docs"): READ,
    ("GET", f"{_A}/whoami"): READ | {Role.NODE, Role.JOIN},
    # jobs
    ("GET", f"{_A}/jobs"): READ,
    ("GET", f"{_A}/jobs/{{job_id}}"): READ,
    ("GET", f"{_A}/jobs/{{job_id}}/events"): READ,
    ("GET", f"{_A}/jobs/{{job_id}}/items"): READ,
    ("POST", f"{_A}/check"): READ,  # changes nothing
    ("POST", f"{_A}/jobs"): SUBMIT,
    ("POST", f"{_A}/jobs/{{job_id}}/cancel"): SUBMIT,
    ("POST", f"{_A}/jobs/{{job_id}}/pause"): SUBMIT,
    ("POST", f"{_A}/jobs/{{job_id}}/resume"): SUBMIT,
    ("POST", f"{_A}/jobs/{{job_id}}/rerun"): SUBMIT,
    # blobs: nodes fetch their batches' inputs (checked in the route) and send outputs
    ("GET", f"{_A}/blobs/{{sha256}}"): READ_AND_NODES,
    ("HEAD", f"{_A}/blobs/{{sha256}}"): READ_AND_NODES,
    ("PUT", f"{_A}/blobs/{{sha256}}"): SUBMIT | {Role.NODE},
    # plugins nodes install
    ("GET", f"{_A}/plugins"): READ_AND_NODES,
    ("GET", f"{_A}/plugins/{{name}}/{{version}}/bundle"): READ_AND_NODES,
    ("GET", f"{_A}/keys/signing"): READ_AND_NODES,
    # nodes
    ("GET", f"{_A}/nodes"): READ,
    ("WS", f"{_A}/nodes/connect"): frozenset({Role.NODE}),  # a node's own credential only
    ("POST", f"{_A}/nodes/enrol"): frozenset({Role.JOIN, Role.ADMIN}),
    ("POST", f"{_A}/nodes/{{node_id}}/drain"): ADMIN,
    ("POST", f"{_A}/nodes/{{node_id}}/resume"): ADMIN,
    ("DELETE", f"{_A}/nodes/{{node_id}}"): ADMIN,
    ("POST", f"{_A}/nodes/{{node_id}}/revoke"): ADMIN,
    ("GET", f"{_A}/join-requests"): READ,
    ("POST", f"{_A}/join-requests/{{node_id}}/approve"): ADMIN,
    ("POST", f"{_A}/join-requests/{{node_id}}/refuse"): ADMIN,
    # job folders: what the farm has, and a waiting job file run now or failed
    ("GET", f"{_A}/resources"): READ,
    ("POST", f"{_A}/folders/take"): SUBMIT,
    # the blackboard: writes are checked per key in its routes (who may write which keys)
    ("GET", f"{_A}/board"): READ_AND_NODES,
    ("GET", f"{_A}/board/{{key:path}}"): READ_AND_NODES,
    ("GET", f"{_A}/board/{{key:path}}/history"): READ_AND_NODES,
    ("GET", f"{_A}/board-changes"): READ_AND_NODES,
    ("PUT", f"{_A}/board/{{key:path}}"): SUBMIT | {Role.NODE},
    ("DELETE", f"{_A}/board/{{key:path}}"): SUBMIT | {Role.NODE},
    # the exchange: accounts register (pending unless an admin or an account token does it);
    # a transfer needs the paying account's signature besides a token (SignatureCheck);
    # approvals and grants are admins', as every route not listed here
    ("GET", f"{_A}/accounts"): READ,
    ("POST", f"{_A}/accounts"): READ | {Role.ACCOUNT},
    # a node's credential too, for its owner's console: each request signed by the account,
    # and a node reads only the account that signed (exchange routes)
    ("GET", f"{_A}/accounts/{{name}}/balance"): READ_AND_NODES,
    ("GET", f"{_A}/accounts/{{name}}/signed"): READ,
    ("POST", f"{_A}/ledger/transfers"): READ_AND_NODES,
    ("GET", f"{_A}/ledger"): READ_AND_NODES,
    ("GET", f"{_A}/ledger/verify"): READ,
    # the market: an ask or a mandate is made, changed and withdrawn by its account's
    # signature, besides a token; a node's too (its owner's console), reading only the
    # account that signed (market routes)
    ("GET", f"{_A}/asks"): READ_AND_NODES,
    ("POST", f"{_A}/asks"): READ_AND_NODES,
    ("DELETE", f"{_A}/asks/{{ask_id}}"): READ_AND_NODES,
    ("GET", f"{_A}/mandates"): READ_AND_NODES,
    ("POST", f"{_A}/mandates"): READ_AND_NODES,
    ("POST", f"{_A}/mandates/{{mandate_id}}/pause"): READ_AND_NODES,
    ("POST", f"{_A}/mandates/{{mandate_id}}/resume"): READ_AND_NODES,
    ("DELETE", f"{_A}/mandates/{{mandate_id}}"): READ_AND_NODES,
    ("GET", f"{_A}/trades"): READ_AND_NODES,
    ("GET", f"{_A}/trades/{{trade_id}}"): READ,
    # tokens and the audit log: admins only, as every route not listed here
    # the dashboard
    ("GET", "/"): READ,
    ("GET", "/nodes"): READ,
    ("GET", "/nodes/{node_id}"): READ,
    ("GET", "/nodes/{node_id}/own-page"): READ,  # on to the node's page, with a signed ticket
    ("GET", "/jobs"): READ,
    ("GET", "/jobs/{job_id}"): READ,
    ("GET", "/jobs/{job_id}/items/{map_id}"): READ,
    ("GET", "/board"): READ,
    ("GET", "/accounts"): READ,
    ("GET", "/accounts/{name}"): READ,
    ("GET", "/trades/{trade_id}"): READ,
    ("GET", "/stream"): READ,
    ("GET", "/files/{sha256}/{name:path}"): READ,
    ("GET", "/static/{path:path}"): READ,
    ("GET", "/submit"): READ,
    ("POST", "/submit/check"): READ,
    ("POST", "/submit/upload"): SUBMIT,
    ("POST", "/submit/check-files"): SUBMIT,
    ("GET", "/signin"): READ | {Role.NODE, Role.JOIN},
    ("POST", "/signin"): READ,
    ("POST", "/signout"): READ | {Role.NODE, Role.JOIN},
}


def allowed_roles(method: str, path: str) -> frozenset[Role]:
    """The roles that may use a route; admins only for a route the table does not name."""
    found = RULES.get((method, path))
    if found is None and method == "HEAD":
        found = RULES.get(("GET", path))
    return found if found is not None else ADMIN


def is_public(method: str, path: str) -> bool:
    return (method, path) in PUBLIC or (method == "HEAD" and ("GET", path) in PUBLIC)
