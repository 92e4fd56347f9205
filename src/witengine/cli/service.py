"""`wit node install-service`: a node that starts with the machine, restarts when it fails, and
runs as the user it should, at the lowest priority.

On Linux it writes a systemd unit and enables it: a user unit (`--user`, the default, in
~/.config/systemd/user, enabled with `systemctl --user enable --now`) or a system unit
(`--system`, in /etc/systemd/system, `User=` the given or current user). For Windows (a
scheduled task, as the XML `schtasks /Create /XML` reads) and macOS (a launchd agent's plist) it
prints the equivalent on standard output, and what to do with it on standard error (so that
the output can be saved as the file); `--platform` prints another platform's, and `--print`
prints without writing anything.

The node's own flags (`--hub`, `--name`, `--slots`, `--cache-dir`, a policy's…) are carried into
the service's command line as given, before or after `install-service`, with paths made
absolute. A token never is: a unit's command line is readable by every user of the machine.
The node enrols once with a join token and then keeps its own credential in its cache folder
(`witengine.node.enrol`); a token given here goes into an environment file only the service
manager reads (mode 600, `WIT_TOKEN=…`, named by the unit's `EnvironmentFile=`), which may be
deleted once the node has enrolled. Windows and macOS are told to enrol once by hand instead.

The text of each file is built by pure functions of a `Service` (`witengine.cli.service_files`);
the folder the unit goes to and running `systemctl` are parameters (`install_systemd`), so tests
write into a temporary folder and record the commands instead of enabling a unit on the machine
they run on.
"""

from __future__ import annotations

import getpass
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from witengine.cli.service_files import (
    UNIT,
    USAGE_EXIT,
    Platform,
    Service,
    launchd_agent,
    launchd_instructions,
    systemd_unit,
    this_platform,
    windows_instructions,
    windows_task,
)
from witengine.errors import WitError
from witengine.node.enrol import NodeRefused, token_kind
from witengine.node.policy_file import BUILT_IN as BUILT_IN_POLICY
from witengine.security.files import write_private

# Node options never carried into a service: the token has its own way in, and the others are
# questions answered at once, not ways to run.
NOT_CARRIED = frozenset({"token", "show_policy", "help"})
FILE_SOURCE = "file:"  # `--idle-source file:PATH`


# ------------------------------------------------------------------ the node's command line


def carried_arguments(
    options: Iterable[Any],
    given: Sequence[tuple[str, Any]],
    absolute: Callable[[Path], Path] | None,
) -> tuple[list[str], str | None]:
    """The node's flags as a command line, in the order `wit node` declares them, and the token
    among them (kept apart). `options` are the node command's parameters (anything with the
    `name`, `opts`, `secondary_opts`, `is_flag` and `multiple` of a click option); `given` is
    (name, value) of each one set on the command line or in the environment; `absolute` makes
    a path absolute for the machine the service runs on (None: as given)."""
    values = dict(given)
    arguments: list[str] = []
    for option in options:
        name = getattr(option, "name", None)
        if name not in values or name in NOT_CARRIED or not getattr(option, "opts", None):
            continue
        arguments += _option(option, values[name], absolute)
    token = values.get("token")
    return arguments, str(token) if token else None


def _option(option: Any, value: Any, absolute: Callable[[Path], Path] | None) -> list[str]:
    opts: list[str] = list(option.opts)
    flag = max((o for o in opts if o.startswith("--")), key=len, default=opts[0])
    if option.is_flag:
        if option.secondary_opts:
            return [flag if value else option.secondary_opts[0]]
        return [flag] if value else []
    if value is None:
        return []
    if option.multiple or isinstance(value, list | tuple):
        return [part for item in value for part in (flag, _text(option.name, item, absolute))]
    return [flag, _text(option.name, value, absolute)]


def _text(name: str, value: Any, absolute: Callable[[Path], Path] | None) -> str:
    if absolute is not None:
        if isinstance(value, Path):
            return str(absolute(value))
        # Text that names a file: the policy (but `office`, its defaults) and a file idle source.
        if name == "policy_file" and value != BUILT_IN_POLICY:
            return str(absolute(Path(value)))
        if name == "idle_source" and str(value).startswith(FILE_SOURCE):
            return FILE_SOURCE + str(absolute(Path(str(value).removeprefix(FILE_SOURCE))))
    return str(getattr(value, "value", value))  # a choice's enum member: its word


def absolute_for(home: str, cwd: Path) -> Callable[[Path], Path]:
    """Paths as the service will read them: `~` is the service user's home, and a relative path
    is taken from the folder the command was given in (a service starts elsewhere)."""

    def absolute(path: Path) -> Path:
        text = str(path)
        if text == "~" or text.startswith("~/"):
            return Path(home + text[1:])
        return path if path.is_absolute() else cwd / path

    return absolute


def wit_program() -> tuple[str, ...]:
    """The `wit` command that is running now, by a path a service can start it from."""
    beside = Path(sys.executable).with_name("wit.exe" if os.name == "nt" else "wit")
    if beside.exists():
        return (str(beside),)
    found = shutil.which("wit")
    if found:
        return (str(Path(found).absolute()),)
    return (sys.executable, "-m", "witengine")


# ---------------------------------------------------------------------------------- systemd


def user_unit_dir() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "systemd" / "user"


SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
SYSTEM_ENV_DIR = Path("/etc/witengine")


def user_env_dir() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "witengine"


Run = Callable[[Sequence[str]], int]


def run_command(command: Sequence[str]) -> int:
    """Run a command (systemctl), its output on this terminal; its exit status."""
    return subprocess.run(list(command), check=False).returncode


def install_systemd(
    service: Service,
    unit_dir: Path,
    *,
    token: str | None = None,
    enable: bool = True,
    run: Run = run_command,
) -> list[str]:
    """Write the unit (and the token's environment file, mode 600), then reload systemd and
    enable and start the unit. Returns what it did, a line each; raises OSError when a file
    cannot be written and ServiceFailed when systemctl fails."""
    done = []
    if token is not None and service.environment_file is not None:
        write_private(service.environment_file, f"WIT_TOKEN={token}\n")
        done.append(f"wrote {service.environment_file} (the token; readable by its owner only)")
    unit_dir.mkdir(parents=True, exist_ok=True)
    path = unit_dir / f"{UNIT}.service"
    path.write_text(systemd_unit(service), encoding="utf-8")
    done.append(f"wrote {path}")
    if not enable:
        return done
    ctl = ["systemctl"] if service.system else ["systemctl", "--user"]
    for command in ([*ctl, "daemon-reload"], [*ctl, "enable", "--now", f"{UNIT}.service"]):
        status = run(command)
        if status != 0:
            raise ServiceFailed(f"{' '.join(command)} failed (exit status {status})")
        done.append("ran " + " ".join(command))
    return done


class ServiceFailed(WitError):
    """systemctl refused: its own message is on the terminal already."""


# ---------------------------------------------------------------------------------- command


def install_service(
    ctx: typer.Context,
    system: Annotated[
        bool,
        typer.Option(
            "--system/--user",
            help="A system service (from boot, as --run-as) rather than the user's own.",
        ),
    ] = False,
    run_as: Annotated[
        str | None,
        typer.Option(
            "--run-as",
            help="Who a system service runs as (default: the user who ran sudo, else you).",
            show_default=False,
        ),
    ] = None,
    print_only: Annotated[
        bool,
        typer.Option(
            "--print", "--dry-run", help="Print the service's file; write and enable nothing."
        ),
    ] = False,
    platform: Annotated[
        Platform | None,
        typer.Option(help="Print the service for this platform (default: this machine's)."),
    ] = None,
    enable: Annotated[
        bool,
        typer.Option("--enable/--no-enable", help="Enable and start the unit once written."),
    ] = True,
) -> None:
    """Install `wit node` as a service that starts with the machine: a systemd unit on Linux
    (written and enabled); printed for Windows (a scheduled task) and macOS (a launchd agent).
    Give the node's flags as for `wit node`, before or after `install-service`."""
    target = platform or this_platform()
    here = target is this_platform()
    user = _service_user(run_as, system)
    home = _home(user) if here else ("/Users/" + user if target is Platform.MACOS else "~")
    absolute = absolute_for(home, Path.cwd()) if here else None
    options = _node_command(ctx).params
    given, typed = _given(ctx)
    arguments, token = carried_arguments(options, given, absolute)
    token = _node_token(token, "token" in typed)
    if here and token is None and not _enrolled(options, given, absolute):
        _say(
            "this node has no credential in its cache folder yet: give --token <join token> "
            "(kept in a file only the service reads), or enrol it once: wit node --token …; "
            "without either, it asks to join, which a hub started with --approve-lan lets it "
            "do once an admin approves it (wit nodes --approve NAME)"
        )
    program = wit_program() if here else _placeholder(target)
    env_dir = SYSTEM_ENV_DIR if system else user_env_dir()
    keeps_token = token is not None and target is Platform.LINUX
    service = Service(
        program,
        tuple(arguments),
        system=system,
        user=user if system else None,
        environment_file=env_dir / f"{UNIT}.env" if keeps_token else None,
        home=home,
        discovers=not any(name == "hub" for name, _ in given),
    )
    if service.discovers:
        _say(
            "no --hub (nor WIT_HUB): the service looks for its hub over mDNS each time it "
            "starts, and again 10 s after finding none; give --hub to name it"
        )
    if target is not Platform.LINUX or print_only:
        if token is not None and target is not Platform.LINUX:
            _say("the token is not written into the service: enrol the node once by hand")
        write, instructions = {
            Platform.LINUX: (systemd_unit, None),
            Platform.WINDOWS: (windows_task, windows_instructions),
            Platform.MACOS: (launchd_agent, launchd_instructions),
        }[target]
        sys.stdout.write(write(service))
        if instructions is not None:  # apart from the file, which goes on as it is printed
            print(instructions(service), file=sys.stderr)
        if keeps_token:
            _say(f"the token is not written: put WIT_TOKEN=… in {service.environment_file}")
        return
    _install_here(service, token, enable)


def _install_here(service: Service, token: str | None, enable: bool) -> None:
    unit_dir = SYSTEM_UNIT_DIR if service.system else user_unit_dir()
    if service.system and hasattr(os, "geteuid") and os.geteuid() != 0:
        _say(
            f"a system service is written into {unit_dir}, which needs root: "
            "run this with sudo, or add --print and install the unit yourself"
        )
        raise typer.Exit(USAGE_EXIT)
    if enable and not systemd_running():
        _say(
            "systemd does not run this machine (no /run/systemd/system): add --print to see "
            "the unit, or --no-enable to write it without enabling it"
        )
        raise typer.Exit(USAGE_EXIT)
    try:
        for line in install_systemd(service, unit_dir, token=token, enable=enable):
            _say(line)
    except (OSError, ServiceFailed) as error:
        _say(str(error))
        raise typer.Exit(1) from None
    if not enable:
        return
    ctl = "systemctl" if service.system else "systemctl --user"
    journal = "journalctl" if service.system else "journalctl --user"
    _say(f"the node runs as a service: {ctl} status {UNIT}; its log: {journal} -u {UNIT} -f")
    if not service.system:
        _say(
            "a user service runs while you are logged in; to run it from boot: "
            f"loginctl enable-linger {getpass.getuser()}"
        )


def systemd_running() -> bool:
    """Whether systemd is the machine's service manager (as sd_booted(3) tells it)."""
    return Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None


def _node_command(ctx: typer.Context) -> Any:
    """`wit node`'s command (its options are the node's); install-service runs under it."""
    parent = ctx.parent
    assert parent is not None, "install-service runs under `wit node`"
    return parent.command


def _given(ctx: typer.Context) -> tuple[list[tuple[str, Any]], set[str]]:
    """The node's options set before `install-service` (on `wit node`) and after it (the
    arguments install-service does not know), the later winning; WIT_HUB when no --hub; and
    the names of those typed on the command line (not read from the environment). A node flag
    that `wit node` would refuse is refused here as it would be."""
    parent = ctx.parent
    assert parent is not None, "install-service runs under `wit node`"
    given = [(name, value) for name, value in parent.params.items() if _set(parent, name)]
    typed = {name for name in parent.params if _typed(parent, name)}
    if ctx.args:
        later = _node_command(ctx).make_context("node", list(ctx.args), parent=parent.parent)
        leftover = getattr(later, "_protected_args", None)
        if leftover is None:  # click before 8.2
            leftover = later.protected_args
        if [*leftover, *later.args]:
            _say(f"wit node takes no argument {[*leftover, *later.args][0]!r}")
            raise typer.Exit(USAGE_EXIT)
        given += [(name, value) for name, value in later.params.items() if _set(later, name)]
        typed |= {name for name in later.params if _typed(later, name)}
    if not any(name == "hub" for name, _ in given) and os.environ.get("WIT_HUB"):
        given.append(("hub", os.environ["WIT_HUB"]))
    return given, typed


def _set(ctx: Any, name: str) -> bool:
    """Whether an option was given on the command line or in the environment (not defaulted)."""
    source = ctx.get_parameter_source(name)
    return getattr(source, "name", "") in ("COMMANDLINE", "ENVIRONMENT")


def _typed(ctx: Any, name: str) -> bool:
    return getattr(ctx.get_parameter_source(name), "name", "") == "COMMANDLINE"


def _node_token(token: str | None, typed: bool) -> str | None:
    """The token to keep for the node: a join token (or a node's own credential). Another kind
    is refused when typed here, and left out when it only comes from WIT_TOKEN, which the other
    commands read too (an admin's token, say): the node would refuse it and stop."""
    if token is None:
        return None
    try:
        token_kind(token)
    except NodeRefused as error:
        if typed:
            _say(str(error))
            raise typer.Exit(USAGE_EXIT) from None
        _say(f"WIT_TOKEN is left out of the service: {str(error).removeprefix('--token: ')}")
        return None
    return token


def _enrolled(
    options: Iterable[Any],
    given: Sequence[tuple[str, Any]],
    absolute: Callable[[Path], Path] | None,
) -> bool:
    """Whether the node's cache folder (as given, else `wit node`'s default) holds the
    credential that an enrolment keeps; True when that cannot be told."""
    from witengine.node.enrol import CREDENTIAL_FILE

    default = next((getattr(o, "default", None) for o in options if o.name == "cache_dir"), None)
    folder = dict(given).get("cache_dir", default)
    if not isinstance(folder, Path) or absolute is None:
        return True
    try:
        return (absolute(folder) / CREDENTIAL_FILE).exists()
    except OSError:  # another user's folder: not ours to look into
        return True


def _service_user(run_as: str | None, system: bool) -> str:
    if run_as:
        return run_as
    if system and os.environ.get("SUDO_USER"):
        return os.environ["SUDO_USER"]
    return getpass.getuser()


def _home(user: str) -> str:
    if user == getpass.getuser():
        return str(Path.home())
    try:
        import pwd
    except ImportError:  # not on this platform
        return "~"
    try:
        return pwd.getpwnam(user).pw_dir
    except KeyError:
        _say(f"no user {user} on this machine")
        raise typer.Exit(USAGE_EXIT) from None


def _placeholder(target: Platform) -> tuple[str, ...]:
    """The `wit` command on another machine: its full path there is not known here."""
    if target is Platform.WINDOWS:
        return ("C:\\path\\to\\wit.exe",)  # where wit
    return ("/path/to/wit",)  # which wit


def _say(text: str) -> None:
    print(f"wit node install-service: {text}", file=sys.stderr)
