"""Plugin bundles: pack, sign, verify and extract round trip, and every refusal with its message,
leaving nothing extracted."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key

from witengine import __version__
from witengine.errors import (
    BundleError,
    BundleHashMismatch,
    BundleIncompatible,
    BundleInvalid,
    BundleSignatureInvalid,
    PluginError,
)
from witengine.plugins import bundles
from witengine.plugins.api import Plugin
from witengine.plugins.bundles import (
    MANIFEST,
    Bundle,
    Manifest,
    extract,
    pack,
    pack_source,
    sign,
    verify,
)

EXAMPLE = Path(__file__).parents[3] / "docs" / "examples" / "plugin"


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Bundle:
    monkeypatch.syspath_prepend(str(EXAMPLE))
    return pack(Plugin("tiles", "0.1", ref="wit_tiles:plugin"))


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def rezip(data: bytes, change: Callable[[str, bytes], bytes]) -> bytes:
    """The same zip with each entry's bytes passed through `change`."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info, change(info.filename, source.read(info)))
    return out.getvalue()


def signed(data: bytes, key: Ed25519PrivateKey) -> tuple[bytes, str, str]:
    sha = hashlib.sha256(data).hexdigest()
    return data, sha, sign(sha, key)


def assert_empty(folder: Path) -> None:
    assert not folder.exists() or not any(folder.rglob("*")), sorted(folder.rglob("*"))


# ------------------------------------------------------------------------ round trip


def test_a_packed_signed_bundle_verifies_and_extracts_to_the_same_files(
    example: Bundle, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    signature = sign(example.sha256, key)
    manifest = verify(example.data, example.sha256, signature, [key.public_key()])
    assert manifest == example.manifest
    assert manifest.name == "tiles" and manifest.version == "0.1"
    assert manifest.entry == "wit_tiles:plugin"
    assert manifest.platforms == ("any",) and manifest.python is None
    assert manifest.witengine == bundles.default_witengine_range()
    source = (EXAMPLE / "wit_tiles.py").read_bytes()
    assert manifest.files == {"wit_tiles.py": hashlib.sha256(source).hexdigest()}
    extract(example.data, tmp_path / "out")
    assert (tmp_path / "out" / "wit_tiles.py").read_bytes() == source
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["wit_tiles.py"]
    bundles.check_installed(tmp_path / "out", manifest)


def test_packing_the_same_files_twice_gives_the_same_bytes(example: Bundle) -> None:
    again = pack(Plugin("tiles", "0.1", ref="wit_tiles:plugin"))
    assert again.data == example.data and again.sha256 == example.sha256


def test_a_package_is_packed_whole_without_its_bytecode(tmp_path: Path) -> None:
    package = tmp_path / "mypkg"
    (package / "sub" / "__pycache__").mkdir(parents=True)
    (package / "__init__.py").write_text("plugin = None\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "data.bin").write_bytes(b"\x00\x01")
    (package / "sub" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"junk")
    (package / "stale.pyc").write_bytes(b"junk")
    bundle = pack_source(package, name="mine", version="2.0", entry="mypkg:plugin", witengine=">=0")
    assert sorted(bundle.manifest.files) == [
        "mypkg/__init__.py",
        "mypkg/sub/__init__.py",
        "mypkg/sub/data.bin",
    ]
    extract(bundle.data, tmp_path / "out")
    assert (tmp_path / "out" / "mypkg" / "sub" / "data.bin").read_bytes() == b"\x00\x01"


def test_a_bundle_with_compiled_files_names_its_platform_and_python(tmp_path: Path) -> None:
    package = tmp_path / "fast"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "_speedups.cpython-311-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    manifest = pack_source(
        package, name="fast", version="1", entry="fast:plugin", witengine=">=0"
    ).manifest
    assert manifest.platforms == (bundles.platform_tag(),)
    assert manifest.python == bundles.python_tag()
    assert bundles.incompatibility(manifest) is None
    assert "built for" in (bundles.incompatibility(manifest, tag="plan9-mips") or "")
    assert "this Python is" in (bundles.incompatibility(manifest, python="pypy-99") or "")


@pytest.mark.parametrize(
    ("witengine", "fits"),
    [(bundles.default_witengine_range(), True), (">=99", False), ("<0.0.1", False)],
)
def test_a_bundle_fits_only_the_witengine_versions_it_names(
    example: Bundle, witengine: str, fits: bool
) -> None:
    manifest = Manifest.from_json({**example.manifest.to_json(), "witengine": witengine})
    if fits:
        bundles.require_compatible(manifest)
    else:
        with pytest.raises(BundleIncompatible, match=f"needs witengine .* this is {__version__}"):
            bundles.require_compatible(manifest)


def test_the_default_range_covers_the_next_patch_releases_but_not_the_next_minor() -> None:
    assert bundles.default_witengine_range("0.1.0") == ">=0.1,<0.2"
    assert bundles.default_witengine_range("2.3.1") == ">=2.3,<3"


def test_a_plugin_that_cannot_be_found_is_not_packed() -> None:
    with pytest.raises(PluginError, match="module 'no_such_module_here' is not importable"):
        pack(Plugin("ghost", "1", ref="no_such_module_here:plugin"))
    with pytest.raises(PluginError, match="has no ref"):
        pack(Plugin("ghost", "1"))


def test_a_package_holding_a_symlink_is_not_packed(tmp_path: Path) -> None:
    package = tmp_path / "linked"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "passwords").symlink_to("/etc/passwd")
    with pytest.raises(PluginError, match="is a symlink"):
        pack_source(package, name="linked", version="1", entry="linked:plugin", witengine=">=0")


# -------------------------------------------------------------------------- refusals


def test_bytes_that_do_not_hash_to_the_listed_sha256_are_refused(
    example: Bundle, key: Ed25519PrivateKey
) -> None:
    tampered = example.data.replace(b"tiles", b"tilez", 1)
    with pytest.raises(BundleHashMismatch, match=f"not the listed {example.sha256}"):
        verify(tampered, example.sha256, sign(example.sha256, key), [key.public_key()])


def test_a_file_changed_after_packing_is_refused_even_when_signed(
    example: Bundle, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    def change(name: str, content: bytes) -> bytes:
        return content + b"\nimport os; os.system('evil')\n" if name == "wit_tiles.py" else content

    data, sha, signature = signed(rezip(example.data, change), key)
    verify(data, sha, signature, [key.public_key()])  # a trusted signer packed it wrongly
    with pytest.raises(BundleHashMismatch, match=r"file 'wit_tiles\.py' hashes to sha256 .* not"):
        extract(data, tmp_path / "out")
    assert_empty(tmp_path / "out")


def test_a_tampered_manifest_breaks_the_signature(
    example: Bundle, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    def change(name: str, content: bytes) -> bytes:
        if name != MANIFEST:
            return content
        manifest = json.loads(content)
        manifest["entry"] = "wit_tiles:other"
        return json.dumps(manifest).encode()

    data = rezip(example.data, change)
    sha = hashlib.sha256(data).hexdigest()
    with pytest.raises(
        BundleSignatureInvalid, match="signature does not verify against any trusted key"
    ):
        verify(data, sha, sign(example.sha256, key), [key.public_key()])


def test_a_signature_by_an_untrusted_key_is_refused(example: Bundle) -> None:
    signature = sign(example.sha256, Ed25519PrivateKey.generate())
    trusted = [Ed25519PrivateKey.generate().public_key() for _ in range(3)]
    with pytest.raises(
        BundleSignatureInvalid, match="signature does not verify against any trusted key"
    ):
        verify(example.data, example.sha256, signature, trusted)
    with pytest.raises(BundleSignatureInvalid, match="no trusted key"):
        verify(example.data, example.sha256, signature, [])
    with pytest.raises(BundleSignatureInvalid, match="not base64"):
        verify(example.data, example.sha256, "not base64!", trusted)


def test_a_truncated_zip_is_refused(
    example: Bundle, key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    data, sha, signature = signed(example.data[: len(example.data) // 2], key)
    with pytest.raises(BundleInvalid, match="not a readable zip archive"):
        verify(data, sha, signature, [key.public_key()])
    with pytest.raises(BundleInvalid, match="not a readable zip archive"):
        extract(data, tmp_path / "out")
    assert_empty(tmp_path / "out")


def crafted(
    example: Bundle, name: str, content: bytes = b"evil", mode: int = stat.S_IFREG | 0o644
) -> bytes:
    """The example bundle plus one entry, listed in the manifest as it stands."""
    manifest = example.manifest.to_json()
    manifest["files"][name] = hashlib.sha256(content).hexdigest()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(MANIFEST, json.dumps(manifest))
        archive.writestr("wit_tiles.py", (EXAMPLE / "wit_tiles.py").read_bytes())
        info = zipfile.ZipInfo(name)
        info.external_attr = mode << 16
        archive.writestr(info, content)
    return out.getvalue()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("../evil.py", "climbs out of its folder"),
        ("pkg/../../evil.py", "climbs out of its folder"),
        ("/tmp/evil.py", "is an absolute path"),
        ("C:/evil.py", "is an absolute path"),
        ("..\\evil.py", "has a backslash"),
        ("pkg//evil.py", "has an empty part"),
    ],
)
def test_an_entry_that_could_escape_its_folder_is_refused(
    example: Bundle, tmp_path: Path, entry: str, message: str
) -> None:
    target = tmp_path / "deep" / "out"
    with pytest.raises(BundleInvalid, match=message):
        extract(crafted(example, entry), target)
    assert_empty(tmp_path)


def test_an_entry_the_manifest_does_not_list_is_refused_even_when_harmless(
    example: Bundle, tmp_path: Path
) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(MANIFEST, json.dumps(example.manifest.to_json()))
        archive.writestr("wit_tiles.py", (EXAMPLE / "wit_tiles.py").read_bytes())
        archive.writestr("sneaky.py", b"")
    with pytest.raises(BundleInvalid, match=r"'sneaky\.py' is not listed in the manifest"):
        extract(out.getvalue(), tmp_path / "out")
    assert_empty(tmp_path / "out")


def test_an_unlisted_entry_that_climbs_out_is_refused_before_anything_is_written(
    example: Bundle, tmp_path: Path
) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(MANIFEST, json.dumps(example.manifest.to_json()))
        archive.writestr("wit_tiles.py", (EXAMPLE / "wit_tiles.py").read_bytes())
        archive.writestr("../../escape.py", b"evil")
    with pytest.raises(BundleInvalid, match="climbs out of its folder"):
        extract(out.getvalue(), tmp_path / "deep" / "out")
    assert_empty(tmp_path)


def test_a_symlink_entry_is_refused(example: Bundle, tmp_path: Path) -> None:
    data = crafted(example, "passwords", b"/etc/passwd", mode=stat.S_IFLNK | 0o777)
    with pytest.raises(BundleInvalid, match="entry 'passwords' is a symlink"):
        extract(data, tmp_path / "out")
    assert_empty(tmp_path / "out")


def test_a_file_the_manifest_lists_but_the_bundle_lacks_is_refused(
    example: Bundle, tmp_path: Path
) -> None:
    manifest = example.manifest.to_json()
    manifest["files"]["gone.py"] = "0" * 64
    data = bundles.write_zip(manifest, {"wit_tiles.py": (EXAMPLE / "wit_tiles.py").read_bytes()})
    with pytest.raises(BundleInvalid, match=r"lists 'gone\.py', which the bundle lacks"):
        extract(data, tmp_path / "out")
    assert_empty(tmp_path / "out")


def test_a_folder_that_is_not_empty_is_not_extracted_into(example: Bundle, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep")
    with pytest.raises(BundleInvalid, match="is not empty"):
        extract(example.data, tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["mine.txt"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": 2}, "format is 2; this witengine reads 1"),
        ({"name": "../etc"}, "name '../etc' is not a plain name"),
        ({"version": "1/2"}, "version '1/2' is not a plain name"),
        ({"entry": "os.system"}, "entry 'os.system' is not module:attribute"),
        ({"entry": "other_module:plugin"}, "names a module the bundle does not hold"),
        ({"witengine": "at least one"}, "is not a version range"),
        ({"platforms": []}, "platforms are not a list of names"),
        ({"files": {}}, "lists no files"),
        ({"files": {"wit_tiles.py": "abc"}}, "is not 64 hex digits"),
        ({"files": {MANIFEST: "0" * 64, "wit_tiles.py": "0" * 64}}, "lists itself"),
    ],
)
def test_a_malformed_manifest_is_refused_with_the_field_that_is_wrong(
    example: Bundle, change: dict[str, object], message: str
) -> None:
    with pytest.raises(BundleInvalid, match=message.replace("(", r"\(")):
        Manifest.from_json({**example.manifest.to_json(), **change})


def test_every_refusal_is_a_plugin_error() -> None:
    for error in (BundleHashMismatch, BundleSignatureInvalid, BundleInvalid, BundleIncompatible):
        assert issubclass(error, BundleError) and issubclass(error, PluginError)


# ------------------------------------------------------------------------------ keys


def test_public_keys_round_trip_through_pem_and_have_a_stable_id(
    key: Ed25519PrivateKey, tmp_path: Path
) -> None:
    pem = bundles.public_key_pem(key.public_key())
    (tmp_path / "k.pem").write_text(pem)
    loaded = bundles.load_public_key_file(tmp_path / "k.pem")
    assert bundles.key_id(loaded) == bundles.key_id(key.public_key())
    assert len(bundles.key_id(loaded)) == 16


def test_a_key_file_that_is_not_an_ed25519_public_key_is_refused(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    rsa = generate_private_key(public_exponent=65537, key_size=2048).public_key()
    (tmp_path / "rsa.pem").write_bytes(
        rsa.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    (tmp_path / "junk.pem").write_text("hello")
    with pytest.raises(PluginError, match="RSAPublicKey, not an Ed25519 public key"):
        bundles.load_public_key_file(tmp_path / "rsa.pem")
    with pytest.raises(PluginError, match="is not a PEM public key"):
        bundles.load_public_key_file(tmp_path / "junk.pem")
    with pytest.raises(PluginError, match="cannot read the key file"):
        bundles.load_public_key_file(tmp_path / "missing.pem")
