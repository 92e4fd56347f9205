"""The add-on's talk with a witengine hub: its HTTP API, over the standard library only.

It runs in Blender's own Python, so it imports neither witengine nor `bpy`: the tests run it
outside Blender against a real hub, and a hub change that would break it fails them. Every call
blocks, so the add-on makes them on a worker thread, never on Blender's main thread. An https
hub with a pinned fingerprint must present that very certificate (its DER's SHA-256, written
`sha256:<hex>` as `wit hub --show-fingerprint` prints it); any other is refused.
"""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import json
import ssl
import urllib.parse
from pathlib import Path
from typing import Any

API = "/api/v1"
CHUNK = 1 << 20
TIMEOUT = 30.0

# The published render job (examples/render_animation.wit): a scene's frames, then a video.
ANIMATION_JOB = """\
Job:RenderAnimation(FrameCollection:frames)
{
    ~ Distribute rendering across all available machines ~
    ImageCollection:images = Grid.ForEach(frame in frames) => Renderer.RenderFrame(frame);
    Video:result = Video.Compose(images);
}
"""
# The same job without its video, for "Make video" unticked.
FRAMES_JOB = """\
Job:RenderFrames(FrameCollection:frames)
{
    ~ Distribute rendering across all available machines ~
    ImageCollection:images = Grid.ForEach(frame in frames) => Renderer.RenderFrame(frame);
}
"""
FINISHED = ("completed", "failed", "cancelled")
RENDER_ACTIVITY = "Renderer.RenderFrame"  # the map whose items are the frames
PAGE = 100  # items a look at a running job reads


class HubError(Exception):
    """The hub refused or could not be reached; the message is the hub's own, when it gave one."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


def parse_fingerprint(text: str) -> str:
    """`sha256:<hex>` from that form, bare hex, or openssl's colon-separated form ("" stays "")."""
    cleaned = text.strip().lower()
    if not cleaned:
        return ""
    for prefix in ("sha256 fingerprint=", "sha256:", "sha256="):
        if cleaned.startswith(prefix):
            cleaned = cleaned[len(prefix) :]
    cleaned = cleaned.replace(":", "")
    if len(cleaned) != 64 or any(c not in "0123456789abcdef" for c in cleaned):
        raise HubError(
            f"{text.strip()!r} is not a certificate fingerprint: expected sha256: followed by "
            "64 hex digits (as `wit hub --show-fingerprint` prints it)"
        )
    return "sha256:" + cleaned


def file_digest(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def frames_text(
    scene_name: str,
    start: int,
    end: int,
    step: int = 1,
    samples: int = 0,
    percent: int = 0,
) -> str:
    """What the published job's `frames` parameter says: `scene.blend@1-48x2 samples=16`;
    0 keeps the scene's own samples or resolution."""
    if end < start:
        raise HubError(f"the frame range ends ({end}) before it starts ({start})")
    spec = f"{scene_name}@{start}-{end}" + (f"x{step}" if step > 1 else "")
    options = [f"samples={samples}"] if samples > 0 else []
    options += [f"percent={percent}"] if percent > 0 else []
    return " ".join([spec, *options])


class Hub:
    """One hub's API, as a token (Authorization: Bearer) and a pinned certificate reach it."""

    def __init__(
        self,
        url: str,
        token: str = "",
        fingerprint: str = "",
        timeout: float = TIMEOUT,
        insecure: bool = False,
    ) -> None:
        parts = urllib.parse.urlsplit(url.strip().rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise HubError(f"{url!r} is not a hub's address: write http://HOST:PORT or https://…")
        self.url = f"{parts.scheme}://{parts.netloc}"
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.token = token.strip()
        self.fingerprint = parse_fingerprint(fingerprint)
        self.timeout = timeout
        if self.token and self.scheme == "http" and not insecure and not _loopback(self.host):
            raise HubError(
                f"refusing to send a token over plain HTTP to {self.url}: use the hub's https:// "
                "address (wit hub --tls) with its certificate's fingerprint, or tick Allow plain "
                "HTTP on a network you trust"
            )

    # ------------------------------------------------------------------ the wire

    def _connection(self) -> http.client.HTTPConnection:
        if self.scheme == "http":
            return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        if self.fingerprint:
            # The pin is the trust: a self-signed certificate is fine when it is the pinned one.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context = ssl.create_default_context()
        connection = http.client.HTTPSConnection(
            self.host, self.port, timeout=self.timeout, context=context
        )
        if self.fingerprint:
            connection.connect()
            sock: Any = connection.sock
            der = sock.getpeercert(binary_form=True) if sock is not None else None
            presented = "sha256:" + hashlib.sha256(der or b"").hexdigest()
            if presented != self.fingerprint:
                connection.close()
                raise HubError(
                    f"the hub at {self.url} presented a certificate with fingerprint "
                    f"{presented}, not the pinned {self.fingerprint}: refused (if the hub's "
                    "certificate was made anew, pin its new fingerprint in the preferences)"
                )
        return connection

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        file: Path | None = None,
        target: Path | None = None,
    ) -> Any:
        """One call to `API + path`: the JSON answer (or None); `file` is sent as the body,
        and with `target` the answer is written there."""
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data: Any = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        try:
            connection = self._connection()
        except (OSError, ssl.SSLError) as error:
            raise HubError(f"cannot reach the hub at {self.url}: {error}") from None
        try:
            if file is not None:
                headers["Content-Length"] = str(file.stat().st_size)
                headers["Content-Type"] = "application/octet-stream"
                with file.open("rb") as handle:
                    connection.request(method, API + path, body=handle, headers=headers)
                    response = connection.getresponse()
            else:
                connection.request(method, API + path, body=data, headers=headers)
                response = connection.getresponse()
            if response.status >= 400:
                raise HubError(_message(response.read(), response.status), response.status)
            if target is not None:
                _write(response, target)
                return None
            raw = response.read()
        except (OSError, http.client.HTTPException) as error:
            raise HubError(f"cannot reach the hub at {self.url}: {error}") from None
        finally:
            connection.close()
        return json.loads(raw) if raw and method != "HEAD" else None

    # ------------------------------------------------------------------ the API

    def whoami(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.request("GET", "/whoami")
        return answer

    def nodes(self) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = self.request("GET", "/nodes")
        return answer

    def has_blob(self, sha256: str) -> bool:
        try:
            self.request("HEAD", f"/blobs/{sha256}")
        except HubError as error:
            if error.status == 404:
                return False
            raise
        return True

    def upload(self, path: Path) -> dict[str, Any]:
        """The file as a blob reference, sent only when the hub lacks its content."""
        sha256, size = file_digest(path)
        if not self.has_blob(sha256):
            self.request("PUT", f"/blobs/{sha256}", file=path)
        return {"sha256": sha256, "size": size, "name": path.name}

    def submit_render(
        self, scene: dict[str, Any], frames: str, label: str, video: bool = True
    ) -> dict[str, Any]:
        """Submit the published render job for an uploaded scene (without its video unless
        `video`); the job's summary."""
        job = {
            "script": ANIMATION_JOB if video else FRAMES_JOB,
            "filename": label,
            "parameters": {"frames": frames},
            "files": {"frames": [scene]},
        }
        answer: dict[str, Any] = self.request("POST", "/jobs", job)
        return answer

    def job(self, job_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.request("GET", f"/jobs/{_quoted(job_id)}")
        return answer

    def items(
        self, job_id: str, map_seq: int = 1, after: int = -1, limit: int = 100
    ) -> dict[str, Any]:
        """A page of the items map `map_seq` of the job has committed (1: its first
        Grid.ForEach), with an index above `after`, while it runs or after it ended."""
        query = urllib.parse.urlencode({"map": map_seq, "after": after, "limit": limit})
        answer: dict[str, Any] = self.request("GET", f"/jobs/{_quoted(job_id)}/items?{query}")
        return answer

    def cancel(self, job_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.request("POST", f"/jobs/{_quoted(job_id)}/cancel")
        return answer

    def download(self, sha256: str, target: Path) -> None:
        """A blob into `target`, whole and checked, or not at all."""
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        self.request("GET", f"/blobs/{sha256}", target=partial)
        if file_digest(partial)[0] != sha256:
            partial.unlink()
            raise HubError(f"the file {target.name} arrived corrupted; try again")
        partial.replace(target)


class Arrivals:
    """The frames of a running job seen so far, and where the next look asks from.

    A look reads one page of the committed items of the job's render map (`Hub.items`), so it
    costs a page however many frames the job has. Frames finish out of order (each node renders
    its own run of them): a look goes on from the last page while pages come full, then starts
    again from the first frame not seen yet.
    """

    def __init__(self, activity: str = RENDER_ACTIVITY, page: int = PAGE) -> None:
        self.activity = activity
        self.page = page
        self.map_seq = 1  # the job's map rendering the frames: its first, unless it says other
        self.after = -1  # the next look asks for items past this index
        self.seen: set[int] = set()
        self.seen_below = 0  # every index below this one is seen

    def take(self, answer: dict[str, Any]) -> list[dict[str, Any]]:
        """The results (files) of the items in a page not seen before; moves the next look on."""
        chosen = next(
            (m["seq"] for m in answer.get("maps") or [] if m.get("activity") == self.activity),
            None,
        )
        if chosen is None:  # the job has not reached its render map yet
            return []
        if chosen != answer.get("map"):  # the page was of another map
            self.map_seq, self.after = chosen, -1
            return []
        new = []
        for item in answer.get("items") or []:
            index = int(item["index"])
            if index in self:
                continue
            self.seen.add(index)
            value = item.get("value")
            if item.get("error") is None and isinstance(value, dict) and value.get("sha256"):
                new.append(value)
        while self.seen_below in self.seen:
            self.seen.discard(self.seen_below)  # the set holds only what is past the run
            self.seen_below += 1
        after = answer.get("next_after")
        self.after = int(after) if after is not None else self.seen_below - 1
        return new

    def __contains__(self, index: int) -> bool:
        return index < self.seen_below or index in self.seen


def node_lines(nodes: list[dict[str, Any]]) -> list[str]:
    """One line a node: its name, state, and the Blender it reports (or that it has none)."""
    lines = []
    for node in nodes:
        software = node.get("capabilities", {}).get("software", {})
        blender = software.get("blender")
        tool = f"Blender {blender}" if blender else "no Blender"
        lines.append(f"{node.get('name', '?')}: {node.get('state', '?')}, {tool}")
    return lines


def result_files(
    job: dict[str, Any],
) -> tuple[list[tuple[int, dict[str, Any]]], dict[str, Any] | None]:
    """A finished render job's frames (number, blob) and its video, from its variables."""
    variables = job.get("variables") or {}
    frames = [
        (int(image.get("frame", index)), image)
        for index, image in enumerate(variables.get("images") or [])
    ]
    video = variables.get("result")
    return frames, video if isinstance(video, dict) and video.get("sha256") else None


def _loopback(host: str) -> bool:
    """Whether the host is this machine (localhost, 127.0.0.0/8, ::1)."""
    host = host.lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _quoted(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def _message(raw: bytes, status: int) -> str:
    try:
        body = json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace").strip() or f"HTTP {status}"
    detail = body.get("detail", body) if isinstance(body, dict) else body
    return detail if isinstance(detail, str) else json.dumps(detail)


def _write(response: http.client.HTTPResponse, target: Path) -> None:
    with target.open("wb") as handle:
        while chunk := response.read(CHUNK):
            handle.write(chunk)
