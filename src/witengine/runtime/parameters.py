"""Job parameters given as text (`n=10`, `ids=1,2,3`), read by the parameter's declared type."""

from __future__ import annotations

import tempfile
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

from witengine.errors import ParameterError, WitError
from witengine.lang.checker import CheckedJob, JobParameter
from witengine.lang.types import WitType
from witengine.runtime.blobs import Blob, BlobError, BlobStore
from witengine.runtime.library import Library, Prepare, Reader


def split_assignments(pairs: Sequence[str]) -> dict[str, str]:
    """`["n=10", "name=a b"]` -> `{"n": "10", "name": "a b"}`."""
    result: dict[str, str] = {}
    for pair in pairs:
        name, equals, text = pair.partition("=")
        if not equals or not name.strip():
            raise ParameterError(f"'{pair}' is not name=value")
        if name.strip() in result:
            raise ParameterError(f"parameter '{name.strip()}' is given twice")
        result[name.strip()] = text
    return result


def read_parameters(
    checked: CheckedJob,
    library: Library,
    texts: Mapping[str, str],
    files: BlobStore | None = None,
    given: Mapping[str, Any] | None = None,
    attached: Mapping[str, Sequence[Blob]] | None = None,
    stored: BlobStore | None = None,
) -> dict[str, Any]:
    """Values for the job's parameters from their text; ParameterError names any bad one.

    With `files`, a Blob parameter's text is a path (a BlobCollection's, a comma list of paths):
    the file is stored and the parameter holds its Blob. `given` holds values already made (such
    as Blobs a client uploaded), checked against the declared types like the rest. A parameter
    whose type has a plugin's reader (`frames=shot.blend@1-48`) is read by it: the files its
    text names come from `attached` (uploaded by a client, in the order the reader names them),
    else from local paths stored in `files`; `stored` is where attached files can be read, for a
    reader that looks inside them.
    """
    declared = {p.name: p for p in checked.parameters}
    values: dict[str, Any] = {}
    for name, value in (given or {}).items():
        param = declared.get(name)
        if param is None:
            raise ParameterError(f"unknown parameter '{name}'")
        reader = text_reader(library, param.type)
        try:
            if reader is not None and isinstance(value, Blob):
                # A file given for a parameter a plugin's reader reads (a Scene) is read by it,
                # by its name, as if the text had named it: its checks hold whichever way.
                value = reader(value.name or name, _NamedFiles(None, [value], stored or files))
            values[name] = library.coerce(value, param.type)
        except (WitError, ValueError) as error:
            raise ParameterError(f"parameter '{name}' ({param.type}): {error}") from None
    for name, text in texts.items():
        param = _declared(checked, name)
        reader = text_reader(library, param.type)
        try:
            if reader is not None:
                found = reader(text, _NamedFiles(files, (attached or {}).get(name), stored))
                values[name] = library.coerce(found, param.type)
            elif files is not None and _is_blob(param.type):
                values[name] = _read_files(text, param.type, files)
            else:
                values[name] = library.parse_text(text, param.type)
        except (WitError, ValueError) as error:
            raise ParameterError(f"parameter '{name}' ({param.type}): {error}") from None
    _none_missing(checked, values)
    return values


def check_texts(checked: CheckedJob, library: Library, texts: Mapping[str, str]) -> None:
    """ParameterError for what is wrong with the text parameters that can be told without
    reading a file: an unknown name, a text its type does not read (`n=abc`), a parameter
    missing. Milliseconds, so a command says so before it starts anything. Files (a Blob's
    path, a text a plugin's reader takes) are read later, by `read_parameters` or
    `files_named`."""
    for name, text in texts.items():
        param = _declared(checked, name)
        if text_reader(library, param.type) is None and not _is_blob(param.type):
            try:
                library.parse_text(text, param.type)
            except (WitError, ValueError) as error:
                raise ParameterError(f"parameter '{name}' ({param.type}): {error}") from None
    _none_missing(checked, texts)


def _declared(checked: CheckedJob, name: str) -> JobParameter:
    for param in checked.parameters:
        if param.name == name:
            return param
    takes = ", ".join(f"{p.type}:{p.name}" for p in checked.parameters) or "no parameters"
    raise ParameterError(f"unknown parameter '{name}'; {checked.name} takes {takes}")


def _none_missing(checked: CheckedJob, given: Collection[str]) -> None:
    missing = [p for p in checked.parameters if p.default is None and p.name not in given]
    if missing:
        wanted = ", ".join(f"{p.name}=<{p.type}>" for p in missing)
        raise ParameterError(f"missing parameter{'s' if len(missing) > 1 else ''}: {wanted}")


def text_reader(library: Library, type_: WitType) -> Reader | None:
    """The plugin's reader for parameters of this type, if it has one."""
    typedef = library.types.get(type_.name if type_.element is None else type_.element.name)
    if typedef is None:
        return None
    return typedef.read if type_.element is None else typedef.read_many


class _NamedFiles:
    """What a reader's `files` gives: the attached files in turn (already prepared by the
    client; `stored` holds them), else local files, prepared and stored in `store`."""

    def __init__(
        self, store: BlobStore | None, attached: Sequence[Blob] | None, stored: BlobStore | None
    ) -> None:
        self.store = store
        self.waiting = list(attached) if attached is not None else None
        self.stored = stored if attached is not None else store

    def __call__(self, path: str, prepare: Prepare | None = None) -> Blob:
        if self.waiting is not None:
            if not self.waiting:
                raise BlobError(f"the file '{path}' was not sent with the job")
            return self.waiting.pop(0)
        if self.store is None:
            raise BlobError(f"'{path}' names a file, which only the machine running it can read")
        file = _readable(path)
        if prepare is None:
            return self.store.put_file(file)
        with tempfile.TemporaryDirectory(prefix="wit-prepare-") as scratch:
            return self.store.put_file(prepare(file, Path(scratch)), file.name)

    def local(self, blob: Blob) -> Path | None:
        if self.stored is None or not self.stored.has(blob.sha256):
            return None
        return self.stored.path(blob)


class _ClientFiles:
    """A reader's `files` on the client: each file checked, prepared and noted for upload; the
    Blob it gives stands in (its digest comes with the upload)."""

    def __init__(self, scratch: Path, name: str) -> None:
        self.scratch = scratch
        self.name = name
        self.paths: list[Path] = []

    def __call__(self, path: str, prepare: Prepare | None = None) -> Blob:
        file = _readable(path)
        if prepare is not None:
            folder = self.scratch / f"{self.name}-{len(self.paths)}"
            folder.mkdir(parents=True, exist_ok=True)
            file = prepare(file, folder)
        self.paths.append(file)
        return Blob(format(len(self.paths), "064x"), file.stat().st_size, Path(path).name)

    def local(self, blob: Blob) -> Path | None:
        index = int(blob.sha256, 16) - 1
        return self.paths[index] if 0 <= index < len(self.paths) else None


class _SentFiles:
    """A reader's `files` on the hub, for files a client sent as they are (a browser cannot
    prepare them): each is handed to the reader as it was sent, never prepared. Preparing one
    (packing a scene's textures into it) would read files on the machine it runs on, named by
    what the client sent: the hub never resolves a sent file's paths against its own disk, so
    the reader's own checks of the sent file are all there is (a scene must carry its files)."""

    def __init__(self, store: BlobStore, attached: Sequence[Blob]) -> None:
        self.store = store
        self.waiting = list(attached)

    def __call__(self, path: str, prepare: Prepare | None = None) -> Blob:
        if not self.waiting:
            raise BlobError(f"the file '{path}' was not sent with the job")
        return self.waiting.pop(0)

    def local(self, blob: Blob) -> Path | None:
        return self.store.path(blob) if self.store.has(blob.sha256) else None


def _readable(path: str) -> Path:
    file = Path(path).expanduser()
    try:
        with file.open("rb"):
            pass
    except OSError as error:
        raise BlobError(f"cannot read '{path}': {error.strerror or error}") from None
    return file


def files_named(
    checked: CheckedJob, library: Library, texts: Mapping[str, str], scratch: Path
) -> dict[str, list[Path]]:
    """The local files that parameters read by a plugin's reader name, in the reader's order:
    what a client uploads with the job. A file the reader asks to prepare is prepared here (in
    `scratch`, which must last until the upload), and the prepared file is listed in its place.
    ParameterError when a text is wrong, a file unreadable or its preparation fails.
    """
    found: dict[str, list[Path]] = {}
    for param in checked.parameters:
        reader = text_reader(library, param.type)
        if reader is None or param.name not in texts:
            continue
        stand_in = _ClientFiles(scratch, param.name)
        try:
            reader(texts[param.name], stand_in)
        except (WitError, ValueError) as error:
            raise ParameterError(f"parameter '{param.name}' ({param.type}): {error}") from None
        found[param.name] = stand_in.paths
    return found


def check_sent(
    checked: CheckedJob,
    library: Library,
    texts: Mapping[str, str],
    attached: Mapping[str, Sequence[Blob]],
    store: BlobStore,
) -> None:
    """Check on the hub the files a client sent as they are, for parameters read by a plugin's
    reader, as `read_parameters` reads them when the job is submitted: the reader looks inside
    each (a scene must carry every file it uses), and nothing is prepared. For a client that
    prepares nothing (a browser). ParameterError when a text is wrong, a file is not sent, or
    the reader refuses one.
    """
    for param in checked.parameters:
        reader = text_reader(library, param.type)
        if reader is None or param.name not in texts:
            continue
        files = _SentFiles(store, attached.get(param.name, []))
        try:
            reader(texts[param.name], files)
        except (WitError, ValueError) as error:
            raise ParameterError(f"parameter '{param.name}' ({param.type}): {error}") from None


def _is_blob(type_: WitType) -> bool:
    return type_.name == "Blob" or (type_.element is not None and type_.element.name == "Blob")


def _read_files(text: str, type_: WitType, files: BlobStore) -> Any:
    if type_.element is None:
        return files.put_file(Path(text).expanduser())
    paths = [part.strip() for part in text.split(",") if part.strip()]
    return [files.put_file(Path(p).expanduser()) for p in paths]
