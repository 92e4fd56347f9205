"""Job parameters given as text (`n=10`, `ids=1,2,3`), read by the parameter's declared type."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from witengine.errors import ParameterError
from witengine.lang.checker import CheckedJob
from witengine.lang.types import WitType
from witengine.runtime.blobs import BlobError, BlobStore
from witengine.runtime.library import Library
from witengine.runtime.values import ConversionError


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
) -> dict[str, Any]:
    """Values for the job's parameters from their text; ParameterError names any bad one.

    With `files`, a Blob parameter's text is a path (a BlobCollection's, a comma list of paths):
    the file is stored and the parameter holds its Blob. `given` holds values already made (such
    as Blobs a client uploaded), checked against the declared types like the rest.
    """
    declared = {p.name: p for p in checked.parameters}
    values: dict[str, Any] = {}
    for name, value in (given or {}).items():
        param = declared.get(name)
        if param is None:
            raise ParameterError(f"unknown parameter '{name}'")
        try:
            values[name] = library.coerce(value, param.type)
        except ConversionError as error:
            raise ParameterError(f"parameter '{name}' ({param.type}): {error}") from None
    for name, text in texts.items():
        param = declared.get(name)
        if param is None:
            takes = ", ".join(f"{p.type}:{p.name}" for p in checked.parameters) or "no parameters"
            raise ParameterError(f"unknown parameter '{name}'; {checked.name} takes {takes}")
        try:
            if files is not None and _is_blob(param.type):
                values[name] = _read_files(text, param.type, files)
            else:
                values[name] = library.parse_text(text, param.type)
        except (ConversionError, BlobError) as error:
            raise ParameterError(f"parameter '{name}' ({param.type}): {error}") from None
    missing = [p for p in checked.parameters if p.default is None and p.name not in values]
    if missing:
        wanted = ", ".join(f"{p.name}=<{p.type}>" for p in missing)
        raise ParameterError(f"missing parameter{'s' if len(missing) > 1 else ''}: {wanted}")
    return values


def _is_blob(type_: WitType) -> bool:
    return type_.name == "Blob" or (type_.element is not None and type_.element.name == "Blob")


def _read_files(text: str, type_: WitType, files: BlobStore) -> Any:
    if type_.element is None:
        return files.put_file(Path(text).expanduser())
    paths = [part.strip() for part in text.split(",") if part.strip()]
    return [files.put_file(Path(p).expanduser()) for p in paths]
