"""What can go wrong in a render, as one error type with a kind a program can act on."""

from __future__ import annotations

from enum import StrEnum

from witengine.errors import WitError


class RenderFailure(StrEnum):
    """Kinds of render failure; the values appear unchanged in messages and logs."""

    NO_BLENDER = "no-blender"  # blender is not installed on this machine
    MISSING_FILES = "missing-files"  # the scene refers to files that are not there
    OUTSIDE_FILES = "outside-files"  # it refers to files outside itself, which are never read
    UNPACKABLE_FILES = "unpackable-files"  # it uses files that cannot be packed into it
    BAD_SCENE = "bad-scene"  # the .blend cannot be read
    NEWER_BLENDER = "newer-blender"  # the scene was saved by a newer Blender than this one
    NO_DEVICE = "no-device"  # the job asks for a GPU backend this machine lacks
    OUT_OF_MEMORY = "out-of-memory"
    CRASHED = "crashed"  # Blender died of a signal
    BAD_IMAGE = "bad-image"  # a written image is missing, of the wrong size, or corrupt
    FAILED = "failed"  # anything else: the message has Blender's last words


class RenderError(WitError):
    """A frame could not be rendered; `failure` says what kind of failure it was."""

    def __init__(self, failure: RenderFailure, message: str) -> None:
        super().__init__(message)
        self.failure = failure
        self.message = message

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RenderError) and (other.failure, other.message) == (
            self.failure,
            self.message,
        )

    def __hash__(self) -> int:
        return hash((self.failure, self.message))
