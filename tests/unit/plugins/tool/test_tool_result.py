"""The pure parts of a tool job's result: what is kept of a program's output, the names written
files come back under, the message a failed run gives, and the result's JSON."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from witengine.plugins.tool.result import ToolResult, failure, returned_name, tail
from witengine.runtime.blobs import Blob

DIGEST = "ab" * 32


def test_output_within_the_limit_is_kept_whole() -> None:
    assert tail(b"one\ntwo\n", limit=100) == "one\ntwo\n"
    assert tail(b"caf\xc3\xa9 \xff\n", limit=100) == "café \ufffd\n"


def test_longer_output_keeps_its_last_lines_and_says_how_much_is_left_out() -> None:
    data = b"".join(f"line {i}\n".encode() for i in range(1000))  # 6890 bytes
    kept = tail(data, limit=100)
    note, _, rest = kept.partition("\n")
    assert rest.startswith("line ") and rest.endswith("line 999\n")
    assert len(rest.encode()) <= 100
    assert note == f"[the first {len(data) - len(rest)} bytes of {len(data)} are left out]"


def test_one_long_line_is_cut_where_the_limit_falls() -> None:
    kept = tail(b"x" * 5000, limit=1000)
    assert kept == "[the first 4000 bytes of 5000 are left out]\n" + "x" * 1000


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("frame.png", "frame.png"),
        ("out/beauty.0001.exr", "out-beauty.0001.exr"),
        ("a/b/c d.txt", "a-b-c d.txt"),
        ("weird:name?.txt", "weird_name_.txt"),
    ],
)
def test_a_written_file_comes_back_named_by_its_path_in_the_work_folder(
    path: str, name: str
) -> None:
    assert returned_name(PurePosixPath(path)) == name


def test_a_failure_quotes_the_last_lines_of_stderr() -> None:
    stderr = b"".join(f"warning {i}\n".encode() for i in range(20)) + b"Error: no such file\n"
    message = failure("prman 24.4", 2, stderr, lines=3)
    assert message == "prman 24.4 exited with code 2:\nwarning 18\nwarning 19\nError: no such file"


def test_a_failure_names_the_signal_that_ended_the_program_and_silence() -> None:
    assert failure("python 3.11.7", -9, b"") == (
        "python 3.11.7 was ended by signal 9 and wrote nothing on stderr"
    )


def test_a_result_survives_its_json() -> None:
    result = ToolResult([Blob(DIGEST, 3, "a.txt")], "out\n", "err\n", 0, "python 3.11.7")
    assert ToolResult.from_json(result.to_json()) == result
    assert result.to_json()["files"] == [{"sha256": DIGEST, "size": 3, "name": "a.txt"}]
