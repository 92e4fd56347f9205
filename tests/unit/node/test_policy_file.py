"""Reading an owner policy from TOML and flags: every value's forms, flags over the file, and
every bad input refused with where it was written (the file's line, or the flag) and what is
valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from witengine.node.policy import OnBattery, Policy
from witengine.node.policy_file import (
    PolicyError,
    key_line,
    load_policy,
    parse_duration,
    parse_size,
)

OFFICE = """\
# The office at night.
hours = ["Mon-Fri 20:00-08:00", "Sat-Sun"]
idle-after = "15m"
resume-after = 120
vacate-after = "1h30m"
max-load = 0.5
on-battery = "run"
max-cores = 4
max-memory = "4GiB"
priority = "low"
idle-source = "file:/run/user/1000/active"
"""


def write(folder: Path, text: str) -> str:
    path = folder / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_policy_file_sets_every_setting(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, OFFICE), {})
    assert policy is not None
    assert [window.text for window in policy.hours] == ["Mon-Fri 20:00-08:00", "Sat-Sun"]
    assert (policy.idle_after, policy.resume_after, policy.vacate_after) == (900, 120, 5400)
    assert (policy.max_load, policy.on_battery) == (0.5, OnBattery.RUN)
    assert (policy.max_cores, policy.max_memory, policy.priority) == (4, 4 * 1024**3, 10)
    assert policy.idle_source == "file:/run/user/1000/active"
    assert policy.summary()["max-memory"] == "4GiB"
    assert policy.summary()["resume-after"] == "120"


def test_a_relative_idle_file_in_a_policy_file_is_found_beside_it(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, 'idle-source = "file:active"\n'), {})
    assert policy is not None
    assert policy.idle_source == f"file:{tmp_path}/active"
    flagged = load_policy(write(tmp_path, ""), {"idle-source": "file:active"})
    assert flagged is not None
    assert flagged.idle_source == "file:active"  # a flag's is the command line's: as given


def test_no_file_and_no_flag_is_no_policy() -> None:
    assert load_policy(None, {"idle-after": None, "hours": []}) is None


def test_office_and_an_empty_file_are_every_default(tmp_path: Path) -> None:
    assert load_policy("office", {}) == Policy()
    assert load_policy(write(tmp_path, "# nothing set\n"), {}) == Policy()


def test_one_flag_turns_the_policy_on_with_defaults_for_the_rest() -> None:
    assert load_policy(None, {"idle-after": "30s"}) == Policy(idle_after=30)


def test_flags_override_the_file(tmp_path: Path) -> None:
    policy = load_policy(
        write(tmp_path, OFFICE), {"idle-after": "2m", "hours": ["Sat"], "max-load": "2"}
    )
    assert policy is not None
    assert (policy.idle_after, policy.max_load) == (120, 2.0)
    assert [window.text for window in policy.hours] == ["Sat"]
    assert policy.summary()["idle-after"] == "2m"


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("30s", 30), ("15m", 900), ("2h", 7200), ("1h30m", 5400), ("90", 90), (45, 45), (1.5, 1.5)],
)
def test_durations(written: object, seconds: float) -> None:
    assert parse_duration(written) == seconds


@pytest.mark.parametrize(
    ("written", "size"),
    [("4GiB", 4 * 2**30), ("512MB", 512 * 10**6), ("512 mib", 512 * 2**20), (4096, 4096)],
)
def test_sizes(written: object, size: int) -> None:
    assert parse_size(written) == size


BAD_FILES = [
    (
        'idle-after = "15m"\nidle_after = 60\n',
        "policy.toml, line 2: unknown setting 'idle_after' (did you mean idle-after?); the "
        "settings are hours, idle-after, resume-after, vacate-after, max-load, on-battery, "
        "max-cores, max-memory, priority, idle-source",
    ),
    (
        '\n\nhours = [\n  "Mon-Fri 20:00-08:00",\n  "Mon 25:00-08:00",\n]\n',
        "policy.toml, line 3: hours: 25:00 in 'Mon 25:00-08:00' is not a time of day: a window "
        "is days and times:",
    ),
    ('hours = "Funday"\n', "policy.toml, line 1: hours: 'Funday' in 'Funday' is not a day"),
    ("hours = []\n", "policy.toml, line 1: hours: no window given"),
    (
        'max-cores = 2\nmax-memory = "4 gigs"\n',
        "policy.toml, line 2: max-memory: cannot read the size '4 gigs': a size is a number of "
        "bytes, or one with a unit: 512MB, 4GB (powers of 1000), 512MiB, 4GiB (powers of 1024)",
    ),
    ('max-memory = "0GiB"\n', "policy.toml, line 1: max-memory: '0GiB' is not a size over"),
    (
        'vacate-after = "ten minutes"\n',
        "policy.toml, line 1: vacate-after: cannot read the duration 'ten minutes': a duration "
        "is 30s, 15m, 2h, 1h30m or a number of seconds",
    ),
    ("resume-after = -5\n", "policy.toml, line 1: resume-after: -5 is negative"),
    ("max-load = -1\n", "policy.toml, line 1: max-load: -1 is not a load per core"),
    ('max-load = "high"\n', "policy.toml, line 1: max-load: 'high' is not a load per core"),
    ("max-cores = 0\n", "policy.toml, line 1: max-cores: 0 is not a number of cores"),
    ("max-cores = 2.5\n", "policy.toml, line 1: max-cores: 2.5 is not a number of cores"),
    ('on-battery = "pause"\n', "policy.toml, line 1: on-battery: 'pause' is not stop or run"),
    (
        'priority = "high"\n',
        "policy.toml, line 1: priority: 'high' is not a priority: lowest, low, normal, or a "
        "niceness from 0 to 19",
    ),
    (
        'idle-source = "mouse"\n',
        "policy.toml, line 1: idle-source: 'mouse' is not an idle source: auto, logind, x11, "
        "terminals, windows, macos, none or file:PATH",
    ),
    ("[policy]\nidle-after = 60\n", "policy.toml, line 1: unknown setting 'policy'"),
    ('idle-after = "15m"\nidle-after = "1m"\n', "not a TOML file: Cannot overwrite a value"),
    ("idle-after = \n", "not a TOML file: Invalid value (at line 1, column 14)"),
]


@pytest.mark.parametrize(("text", "message"), BAD_FILES)
def test_bad_input_in_a_file_names_its_line_and_what_is_valid(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(PolicyError) as refused:
        load_policy(write(tmp_path, text), {})
    assert message in str(refused.value).replace(f"{tmp_path}/", "")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"idle-after": "15 minutes"}, "--idle-after: cannot read the duration '15 minutes'"),
        ({"hours": ["Mon-Fri", "Funday 09:00-17:00"]}, "--hours: 'Funday' in 'Funday 09:00-17"),
        ({"max-memory": "lots"}, "--max-memory: cannot read the size 'lots'"),
    ],
)
def test_bad_input_in_a_flag_names_the_flag(flags: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError, match="^" + message.replace("(", r"\(")):
        load_policy(None, flags)


def test_a_flag_s_bad_value_is_blamed_on_the_flag_not_the_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"^--max-cores: 'x' is not"):
        load_policy(write(tmp_path, OFFICE), {"max-cores": "x"})


def test_a_missing_file_is_named() -> None:
    with pytest.raises(PolicyError, match=r"cannot read the policy file /nonexistent/p\.toml"):
        load_policy("/nonexistent/p.toml", {})


def test_the_line_of_a_key_is_found_in_the_text() -> None:
    text = '# c\n"idle-after" = 1\nhours = [\n "Sat",\n]\n[table]\nmax-load = 1\n'
    assert key_line(text, "idle-after") == 2
    assert key_line(text, "hours") == 3
    assert key_line(text, "table") == 6
    assert key_line(text, "max-load") is None  # inside [table], not a top-level key
