"""Packing a scene on the machine that submits it: one self-contained .blend, so that a node
that never saw the artist's folders renders it the same.

Blender (in the background, `blender_pack.py`) lists the external files the scene uses. A file
that is not there fails the submission, naming it, before anything is uploaded. A scene that
uses no external file is sent as it is. Otherwise its files are packed into a copy of it. A
saved .blend differs in its bytes from one save to the next, so the copy is kept in the cache,
under a digest of the scene's bytes and of every file packed into it: submitting the same scene
again sends the same blob, which the hub already has. What Blender listed is kept too, so an
unchanged scene is not loaded in Blender again. The cache's files are mode 600 in folders of
mode 700: a packed copy holds the user's textures.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from witengine.plugins.render.command import isolated_environment
from witengine.plugins.render.errors import RenderError, RenderFailure
from witengine.security.files import write_private
from witengine.settings import Settings

log = logging.getLogger(__name__)
PACK_SCRIPT = Path(__file__).with_name("blender_pack.py")
PACK_TIMEOUT = 600.0  # seconds for Blender to load, pack and save a scene
_CHUNK = 1 << 20


def pack_scene(scene: Path, scratch: Path, cache: Path | None = None) -> Path:
    """The file to send for this .blend: itself, or a packed copy of it (RenderError when it
    uses files that are missing or cannot be packed). `cache` defaults to the settings' own."""
    root = (cache or Settings.from_env().cache_dir) / "packed"
    scene_digest = _file_digest(scene)
    known = _known(root, scene, scene_digest)
    if known is not None:
        return known
    blender = shutil.which("blender")
    if blender is None:
        log.warning(
            "Blender is not installed here, so %s is sent without checking or packing its "
            "external files (scripts/bootstrap.sh blender installs it)",
            scene,
        )
        return scene
    work = Path(tempfile.mkdtemp(prefix="pack-", dir=scratch))
    packed = work / scene.name
    report = _run_blender(blender, scene, work, packed)
    files: list[dict[str, Any]] = report["files"]
    write_private(_listing(root, scene, scene_digest), json.dumps(files))
    _private_folders(root, _listing(root, scene, scene_digest).parent)
    missing = [file for file in files if not file["exists"]]
    if missing:
        raise RenderError(
            RenderFailure.MISSING_FILES,
            f"the scene {scene.name} uses files that are missing: {_named(missing)}",
        )
    if not files:
        return scene  # self-contained already: sent byte for byte, so the hub may have it
    if report["unpackable"] or not report["saved"]:
        raise RenderError(
            RenderFailure.UNPACKABLE_FILES,
            f"the scene {scene.name} uses files that cannot be packed into it: "
            f"{_named(report['unpackable'])}; pack or bake them into the .blend in Blender",
        )
    kept = root / _digest(scene_digest, files) / scene.name
    if not kept.is_file():
        kept.parent.mkdir(parents=True, exist_ok=True)
        _private_folders(root, kept.parent)
        partial = kept.with_name(f".{kept.name}.{os.getpid()}.part")
        shutil.move(packed, partial)
        partial.chmod(0o600)
        partial.replace(kept)
    log.info("packed %d external files into %s (%s)", len(files), scene.name, kept)
    return kept


def _private_folders(root: Path, folder: Path) -> None:
    """The cache's folders from `root` down to `folder` are their owner's alone (mode 700):
    a packed copy holds the user's textures, which others on the machine need not read."""
    for part in (root, *reversed(folder.relative_to(root).parents), folder):
        (root / part).chmod(0o700)


def _listing(root: Path, scene: Path, scene_digest: str) -> Path:
    """Where the external files Blender listed for this scene, at this place, are kept."""
    place = hashlib.sha256(f"{scene_digest}\0{scene.resolve()}".encode()).hexdigest()[:32]
    return root / "listings" / f"{place}.json"


def _known(root: Path, scene: Path, scene_digest: str) -> Path | None:
    """The file to send, when this scene was listed here before and nothing it uses changed:
    no need to start Blender again. None when Blender must look."""
    try:
        files: list[dict[str, Any]] = json.loads(_listing(root, scene, scene_digest).read_text())
    except (OSError, ValueError):
        return None
    if not files:
        return scene
    if not all(Path(file["absolute"]).is_file() for file in files):
        return None  # missing now, or a folder of files: Blender says which
    kept = root / _digest(scene_digest, files) / scene.name
    return kept if kept.is_file() else None


def _run_blender(blender: str, scene: Path, work: Path, packed: Path) -> dict[str, Any]:
    report_file = work / "report.json"
    for sub in ("config", "scripts", "tmp"):
        (work / sub).mkdir(exist_ok=True)
    command = [
        blender,
        "--factory-startup",
        "-noaudio",
        "-Y",  # never run Python that the .blend carries
        "-b",
        "--python-exit-code",
        "1",
        str(scene.resolve()),
        "-P",
        str(PACK_SCRIPT),
        "--",
        str(report_file),
        str(packed),
    ]
    try:
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            env=isolated_environment(os.environ, work),
            cwd=work,
            timeout=PACK_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RenderError(
            RenderFailure.FAILED,
            f"Blender took more than {PACK_TIMEOUT:.0f} s to list the files of {scene.name}",
        ) from None
    try:
        report: dict[str, Any] = json.loads(report_file.read_text())
    except (OSError, ValueError):
        said = " | ".join(line.strip() for line in done.stdout.splitlines()[-3:] if line.strip())
        raise RenderError(
            RenderFailure.BAD_SCENE,
            f"Blender cannot read the scene {scene} (exit code {done.returncode}): {said}",
        ) from None
    return report


def _named(files: list[dict[str, Any]]) -> str:
    def one(file: dict[str, Any]) -> str:
        where = f", looked for at {file['absolute']}" if file["absolute"] != file["path"] else ""
        return f"{file['path']} ({file['kind']} '{file['name']}'{where})"

    return ", ".join(one(file) for file in files)


def _digest(scene_digest: str, files: list[dict[str, Any]]) -> str:
    """What the packed copy is made of: the scene's bytes and each packed file's."""
    digest = hashlib.sha256()
    digest.update(scene_digest.encode())
    for file in sorted(files, key=lambda file: (file["kind"], file["name"])):
        digest.update(f"\0{file['kind']}\0{file['name']}\0".encode())
        digest.update(_file_digest(Path(file["absolute"])).encode())
    return digest.hexdigest()[:32]


def _file_digest(path: Path) -> str:
    """A file's sha256; a folder's (image sequences, UDIM tiles) from its files' names and
    digests."""
    if not path.is_file():
        folder = path.parent
        parts = [
            f"{child.name}:{_file_digest(child)}"
            for child in sorted(folder.iterdir())
            if child.is_file()
        ]
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
