"""Plugin bundles: pack an installed plugin into a zip, hash it, sign it, verify it, extract it.

A bundle is a zip holding a plugin's top-level package (or single module) as it is installed,
plus `witengine-bundle.json`, the manifest: name, version, entry ref, the witengine versions it
works with, the platforms it runs on (`any` when it is pure Python) and the sha256 of every file.
The bundle's own sha256 is signed with an Ed25519 key; the signature travels beside the bundle.

Everything here is pure (bytes and folders in, bytes and folders out): no network, no clock.
Refusals are `BundleError`s whose messages say what failed. Packing is deterministic (sorted
entries, fixed times and modes), so the same files give the same bundle and the same digest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import importlib.util
import io
import json
import platform
import re
import shutil
import stat
import sys
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from witengine import __version__
from witengine.errors import (
    BundleHashMismatch,
    BundleIncompatible,
    BundleInvalid,
    BundleSignatureInvalid,
    PluginError,
)
from witengine.filenames import UnsafePath, inside, relative_path
from witengine.plugins.api import Plugin

FORMAT = 1
MANIFEST = "witengine-bundle.json"
ANY_PLATFORM = "any"
MAX_BUNDLE_BYTES = 256 * 1024**2  # packed
MAX_EXTRACTED_BYTES = 1024**3  # unpacked: a zip bomb stops here, before anything is written
MAX_FILES = 10_000
COMPILED_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
_SKIPPED_DIRS = frozenset({"__pycache__"})
_SKIPPED_SUFFIXES = (".pyc", ".pyo")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,99}")  # plugin names and versions: dir-safe
_ENTRY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SIGNED_PREFIX = b"witengine-bundle-v1:"  # what is signed: this, then the bundle's sha256 in hex
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Manifest:
    """What a bundle holds and where it runs."""

    name: str
    version: str
    entry: str  # "module:attribute", the Plugin inside
    witengine: str  # a version range such as ">=0.1,<0.2"
    platforms: tuple[str, ...]  # ("any",) for pure Python, else ("linux-x86_64",) and the like
    python: str | None  # the interpreter compiled files need (sys.implementation.cache_tag)
    files: Mapping[str, str]  # path inside the bundle -> sha256 of its bytes

    @property
    def label(self) -> str:
        return f"{self.name} {self.version}"

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "name": self.name,
            "version": self.version,
            "entry": self.entry,
            "witengine": self.witengine,
            "platforms": list(self.platforms),
            "python": self.python,
            "files": dict(sorted(self.files.items())),
        }

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        """A manifest from its JSON form; BundleInvalid names the first field that is wrong."""
        if not isinstance(data, dict):
            raise BundleInvalid("the manifest is not a JSON object")
        if data.get("format") != FORMAT:
            raise BundleInvalid(
                f"the manifest's format is {data.get('format')!r}; this witengine reads {FORMAT}"
            )
        name = _text(data, "name")
        version = _text(data, "version")
        for field, value in (("name", name), ("version", version)):
            if not is_plain_name(value):
                raise BundleInvalid(f"the manifest's {field} {value!r} is not a plain name")
        entry = _text(data, "entry")
        if not _ENTRY.fullmatch(entry):
            raise BundleInvalid(f"the manifest's entry {entry!r} is not module:attribute")
        witengine = _text(data, "witengine")
        try:
            SpecifierSet(witengine)
        except InvalidSpecifier:
            raise BundleInvalid(
                f"the manifest's witengine range {witengine!r} is not a version range"
            ) from None
        platforms = data.get("platforms")
        if (
            not isinstance(platforms, list)
            or not platforms
            or not all(isinstance(p, str) and p for p in platforms)
        ):
            raise BundleInvalid("the manifest's platforms are not a list of names")
        python = data.get("python")
        if python is not None and not isinstance(python, str):
            raise BundleInvalid("the manifest's python is not a string")
        files = data.get("files")
        if not isinstance(files, dict) or not files:
            raise BundleInvalid("the manifest lists no files")
        for path, digest in files.items():
            safe_path(path)
            if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
                raise BundleInvalid(f"the manifest's sha256 of {path!r} is not 64 hex digits")
        if MANIFEST in files:
            raise BundleInvalid(f"the manifest lists itself ({MANIFEST}) as a file")
        top = entry.partition(":")[0].split(".")[0]
        if not any(path in (f"{top}.py", f"{top}/__init__.py") for path in files):
            raise BundleInvalid(f"the entry {entry!r} names a module the bundle does not hold")
        return cls(name, version, entry, witengine, tuple(platforms), python, dict(files))


def is_plain_name(text: str) -> bool:
    """Whether a plugin name or version is safe in a folder name (no separators, no `..`)."""
    return bool(_NAME.fullmatch(text)) and ".." not in text


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise BundleInvalid(f"the manifest's {key} is missing or not a string")
    return value


@dataclass(frozen=True)
class Bundle:
    """A packed bundle: its bytes, their sha256 and the manifest inside."""

    manifest: Manifest
    data: bytes
    sha256: str


# --------------------------------------------------------------------------- platform


def platform_tag() -> str:
    """This machine's os-arch tag, as compiled bundles name the machines they run on."""
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "aarch64": "arm64", "x64": "x86_64"}.get(machine, machine)
    return f"{platform.system().lower()}-{machine}"


def python_tag() -> str:
    return sys.implementation.cache_tag or sys.implementation.name


def incompatibility(
    manifest: Manifest,
    *,
    tag: str | None = None,
    python: str | None = None,
    witengine: str = __version__,
) -> str | None:
    """Why this bundle cannot run here, or None when it can."""
    tag = tag or platform_tag()
    python = python or python_tag()
    if ANY_PLATFORM not in manifest.platforms and tag not in manifest.platforms:
        return f"it is built for {', '.join(manifest.platforms)}, and this machine is {tag}"
    if manifest.python is not None and manifest.python != python:
        return f"its compiled files need {manifest.python}, and this Python is {python}"
    try:
        fits = SpecifierSet(manifest.witengine).contains(Version(witengine), prereleases=True)
    except (InvalidSpecifier, InvalidVersion):
        return f"its witengine range {manifest.witengine!r} cannot be read"
    if not fits:
        return f"it needs witengine {manifest.witengine}, and this is {witengine}"
    return None


def require_compatible(manifest: Manifest) -> None:
    """BundleIncompatible unless the bundle runs on this machine and this witengine."""
    reason = incompatibility(manifest)
    if reason is not None:
        raise BundleIncompatible(f"{manifest.label} does not fit here: {reason}")


def default_witengine_range(version: str = __version__) -> str:
    """The witengine versions a plugin packed with this one is assumed to work with."""
    release = (*Version(version).release, 0, 0)
    major, minor = release[0], release[1]
    upper = f"{major}.{minor + 1}" if major == 0 else f"{major + 1}"
    return f">={major}.{minor},<{upper}"


# ------------------------------------------------------------------------------- pack


def source_of(plugin: Plugin) -> Path:
    """The top-level package folder (or single module file) that holds a plugin."""
    module = plugin.ref.partition(":")[0]
    if not module:
        raise PluginError(f"plugin '{plugin.name}' has no ref, so its files cannot be found")
    top = module.split(".")[0]
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError) as error:
        raise PluginError(f"plugin '{plugin.name}': cannot find module '{top}': {error}") from None
    if spec is None:
        raise PluginError(f"plugin '{plugin.name}': module '{top}' is not importable")
    locations = list(spec.submodule_search_locations or [])
    if locations:
        if len(locations) != 1:
            raise PluginError(
                f"plugin '{plugin.name}': '{top}' is a namespace package spread over "
                f"{len(locations)} folders; bundle a regular package"
            )
        return Path(locations[0])
    if spec.origin is None or not spec.has_location:
        raise PluginError(f"plugin '{plugin.name}': module '{top}' has no file to bundle")
    return Path(spec.origin)


def pack(plugin: Plugin, *, witengine: str | None = None) -> Bundle:
    """Pack an installed plugin's top-level package into a bundle."""
    return pack_source(
        source_of(plugin),
        name=plugin.name,
        version=plugin.version,
        entry=plugin.ref,
        witengine=witengine or default_witengine_range(),
    )


def pack_source(source: Path, *, name: str, version: str, entry: str, witengine: str) -> Bundle:
    """Pack a package folder (or one module file) into a bundle whose entry is `entry`."""
    contents = dict(_collect(source, name))
    compiled = any(path.endswith(COMPILED_SUFFIXES) for path in contents)
    manifest = Manifest(
        name=name,
        version=version,
        entry=entry,
        witengine=witengine,
        platforms=(platform_tag(),) if compiled else (ANY_PLATFORM,),
        python=python_tag() if compiled else None,
        files={path: hashlib.sha256(data).hexdigest() for path, data in contents.items()},
    )
    Manifest.from_json(manifest.to_json())  # the packer refuses what an installer would
    data = write_zip(manifest.to_json(), contents)
    return Bundle(manifest, data, hashlib.sha256(data).hexdigest())


def _collect(source: Path, name: str) -> Iterable[tuple[str, bytes]]:
    if source.is_symlink():
        raise PluginError(f"plugin '{name}': {source} is a symlink; bundles hold regular files")
    if source.is_file():
        yield source.name, source.read_bytes()
        return
    if not source.is_dir():
        raise PluginError(f"plugin '{name}': {source} is neither a file nor a folder")
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if _SKIPPED_DIRS & set(relative.parts) or path.name.endswith(_SKIPPED_SUFFIXES):
            continue
        if path.is_symlink():
            raise PluginError(
                f"plugin '{name}': {path} is a symlink; bundles hold regular files only"
            )
        if path.is_file():
            yield (PurePosixPath(source.name) / relative.as_posix()).as_posix(), path.read_bytes()


def write_zip(manifest: Mapping[str, Any], contents: Mapping[str, bytes]) -> bytes:
    """The zip of a manifest and files, the same bytes for the same input."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        text = json.dumps(manifest, indent=2, sort_keys=True) + "\n"
        archive.writestr(_entry(MANIFEST), text)
        for path in sorted(contents):
            archive.writestr(_entry(path), contents[path])
    return buffer.getvalue()


def _entry(path: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(path, _ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    return info


# ------------------------------------------------------------------------------- keys


def key_id(key: Ed25519PublicKey) -> str:
    """A short, stable name for a public key: the start of its raw bytes' sha256."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_key_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def load_public_key(pem: str | bytes, where: str = "the key") -> Ed25519PublicKey:
    """An Ed25519 public key from PEM text; PluginError says why it is not one."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as error:
        raise PluginError(f"{where} is not a PEM public key: {error}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise PluginError(f"{where} is a {type(key).__name__}, not an Ed25519 public key")
    return key


def load_public_key_file(path: Path) -> Ed25519PublicKey:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PluginError(f"cannot read the key file {path}: {error.strerror}") from None
    return load_public_key(data, f"the key file {path}")


def sign(sha256: str, key: Ed25519PrivateKey) -> str:
    """The base64 Ed25519 signature of a bundle's sha256."""
    return base64.b64encode(key.sign(_SIGNED_PREFIX + sha256.encode())).decode()


# ----------------------------------------------------------------------------- verify


def verify(
    data: bytes, sha256: str, signature: str, trusted: Iterable[Ed25519PublicKey]
) -> Manifest:
    """Check a bundle's bytes against its listed sha256 and its signature; its manifest.

    BundleHashMismatch when the bytes hash to something else, BundleSignatureInvalid when no
    trusted key made the signature, BundleInvalid when the zip or its manifest is unreadable.
    """
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise BundleHashMismatch(f"its bytes hash to sha256 {actual}, not the listed {sha256}")
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise BundleSignatureInvalid("its signature is not base64") from None
    keys = list(trusted)
    if not keys:
        raise BundleSignatureInvalid("there is no trusted key to verify its signature with")
    for key in keys:
        try:
            key.verify(raw, _SIGNED_PREFIX + sha256.encode())
            break
        except InvalidSignature:
            continue
    else:
        raise BundleSignatureInvalid("signature does not verify against any trusted key")
    return read_manifest(data)


def read_manifest(data: bytes) -> Manifest:
    with _open_zip(data) as archive:
        try:
            raw = archive.read(MANIFEST)
        except KeyError:
            raise BundleInvalid(f"it has no {MANIFEST}") from None
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise BundleInvalid(f"its {MANIFEST} cannot be read: {error}") from None
    try:
        parsed = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BundleInvalid(f"its {MANIFEST} is not JSON: {error}") from None
    return Manifest.from_json(parsed)


def _open_zip(data: bytes) -> zipfile.ZipFile:
    if len(data) > MAX_BUNDLE_BYTES:
        raise BundleInvalid(f"it is {len(data)} bytes, more than {MAX_BUNDLE_BYTES}")
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise BundleInvalid(f"it is not a readable zip archive (truncated?): {error}") from None


def safe_path(path: Any) -> PurePosixPath:
    """A bundle entry's path, refused unless it stays inside the folder it is extracted to."""
    try:
        return relative_path(path)
    except UnsafePath as error:
        raise BundleInvalid(f"entry {error}") from None


# ---------------------------------------------------------------------------- extract


def extract(data: bytes, target: Path) -> Manifest:
    """Write a verified bundle's files into `target` (new or empty); its manifest.

    Every entry is checked before anything is written: no absolute path, no `..`, no symlink
    or other special file, no file the manifest does not list, none it lists missing, every
    file's sha256 as listed. On a refusal `target` holds nothing of the bundle.
    """
    manifest = read_manifest(data)
    contents = _checked_contents(data, manifest)
    if target.exists() and any(target.iterdir()):
        raise BundleInvalid(f"the folder {target} to extract into is not empty")
    target.mkdir(parents=True, exist_ok=True)
    root = target.resolve()
    try:
        for path, content in contents.items():
            try:
                destination = inside(root, path)  # belt and braces
            except UnsafePath as error:
                raise BundleInvalid(f"entry {error}") from None
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(content)
    except BaseException:
        for child in list(root.iterdir()):  # it was empty: all of this is the bundle's
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
        raise
    return manifest


def _checked_contents(data: bytes, manifest: Manifest) -> dict[str, bytes]:
    contents: dict[str, bytes] = {}
    total = 0
    with _open_zip(data) as archive:
        entries = archive.infolist()
        if len(entries) > MAX_FILES + 1:
            raise BundleInvalid(f"it has {len(entries)} entries, more than {MAX_FILES}")
        names = [info.filename for info in entries]
        for info in entries:
            path = info.filename
            safe_path(path.removesuffix("/") if info.is_dir() else path)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise BundleInvalid(f"entry {path!r} is a symlink")
            if info.is_dir() or (stat.S_IFMT(mode) and not stat.S_ISREG(mode)):
                raise BundleInvalid(f"entry {path!r} is not a regular file")
            if names.count(path) > 1:
                raise BundleInvalid(f"entry {path!r} appears twice")
            if path == MANIFEST:
                continue
            if path not in manifest.files:
                raise BundleInvalid(f"entry {path!r} is not listed in the manifest")
            total += info.file_size
            if total > MAX_EXTRACTED_BYTES:
                raise BundleInvalid(f"it unpacks to more than {MAX_EXTRACTED_BYTES} bytes")
            try:
                content = archive.read(info)
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError) as error:
                raise BundleInvalid(f"entry {path!r} cannot be read: {error}") from None
            actual = hashlib.sha256(content).hexdigest()
            if actual != manifest.files[path]:
                raise BundleHashMismatch(
                    f"file {path!r} hashes to sha256 {actual}, not the manifest's "
                    f"{manifest.files[path]}"
                )
            contents[path] = content
    missing = sorted(set(manifest.files) - set(contents))
    if missing:
        raise BundleInvalid(f"the manifest lists {missing[0]!r}, which the bundle lacks")
    return contents


def check_installed(folder: Path, manifest: Manifest) -> None:
    """Refuse an extracted bundle whose files changed since: each must hash as listed."""
    for path, digest in manifest.files.items():
        file = folder.joinpath(*PurePosixPath(path).parts)
        if file.is_symlink() or not file.is_file():
            raise BundleInvalid(f"installed file {path!r} is missing or not a regular file")
        actual = hashlib.sha256(file.read_bytes()).hexdigest()
        if actual != digest:
            raise BundleHashMismatch(
                f"installed file {path!r} hashes to sha256 {actual}, not the manifest's {digest}"
            )
