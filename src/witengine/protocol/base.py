"""The protocol's two bases and the field types every message shares.

`Model` is what a hub, node or client is sent (strict: an unknown field is refused); `Answer` is
what the hub answers with (lenient: an unknown field is ignored, so an older client reads a newer
hub). The field types refuse at the door what no file, terminal or database could hold.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from witengine.filenames import UnsafePath, check_file_name
from witengine.protocol.states import POOL_NAME_PATTERN

MAX_NAME_LENGTH = 4096  # the longest file name or label any message may carry
MAX_INT64 = 2**63 - 1  # SQLite's INTEGER: no count or size that arrives may be stored past it

Json = Any
# A count or size from outside: never negative, never past what the store can hold.
Count = Annotated[int, Field(ge=0, le=MAX_INT64)]
Positive = Annotated[int, Field(ge=1, le=MAX_INT64)]
PoolName = Annotated[str, Field(pattern=POOL_NAME_PATTERN)]  # a pool's name, as pools are named


class Model(BaseModel):
    """What a hub, node or client is sent: a field it does not know is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Answer(BaseModel):
    """What the hub answers a client with: a field the client does not know is ignored, so a
    client keeps reading a newer hub's answers (fields are only ever added)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


def first_problem(error: Exception) -> str:
    """What is wrong with input, for people: a ValidationError's first fault as "where: what"
    (its field's path, dotted), any other error's text."""
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return f"{where}: {first['msg']}" if where else str(first["msg"])
    return str(error)


def _text(text: str) -> str:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        where = f"at character {error.start + 1}"
        raise ValueError(f"not text: a lone surrogate {text[error.start]!r} {where}") from None
    return text


# A string that is text: JSON can carry lone surrogates (`"\ud800"`), which no file or database
# can store; they are refused at the door.
Text = Annotated[str, AfterValidator(_text)]


def _file_name(name: str) -> str:
    try:
        return check_file_name(name, MAX_NAME_LENGTH) if name else name
    except UnsafePath as error:
        raise ValueError(str(error)) from None  # what pydantic reports as invalid


# A file's name: one plain name (no separator, NUL or control character, not `..`), or empty.
# The hub's limits.file_name_chars bounds its length more tightly.
FileName = Annotated[str, Field(max_length=MAX_NAME_LENGTH), AfterValidator(_file_name)]


def _label(text: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError(f"{text[:80]!r} contains a NUL or control character")
    return text


# Text shown to people: no control character that would move a terminal's cursor.
Label = Annotated[str, Field(max_length=MAX_NAME_LENGTH), AfterValidator(_label)]
