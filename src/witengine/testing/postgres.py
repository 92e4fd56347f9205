"""A throw-away PostgreSQL server for tests and benches: a cluster made by `initdb` in a new
temporary folder, started by `pg_ctl` on a free port of 127.0.0.1 and on a unix socket in that
folder, stopped and deleted by `stop()`.

It runs as the user running this (as the `postgres` user through `runuser` when that is root:
initdb refuses root), trusts every local connection, and by default skips the fsync of its
writes (a test kills hubs, never the machine). `unavailable()` says why none can be made
here, or None.
Each test takes a database of its own (`database()`), holding the witengine store's tables as
a new store makes them, and nothing else: a copy of a template made once (CREATE DATABASE …
TEMPLATE), or one a test before gave back (`release`) and that was emptied back to the
template's state: every row deleted, the template's rows put back, the numbers the database
gives (identity columns) started again. Copying a database costs a second or two on a busy
machine (its catalog is some 8 MB); emptying one, some tens of milliseconds.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import psycopg

from witengine.hub.store.postgres import PostgresStore
from witengine.testing.processes import free_port

SERVER_USER = "postgres"  # who runs the server when this runs as root
TEMPLATE = "wit_template"


def _tables(db: psycopg.Connection[Any]) -> list[str]:
    """The store's tables but schema_version."""
    rows = db.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
        "AND tablename <> 'schema_version' ORDER BY tablename"
    ).fetchall()
    return [row[0] for row in rows]


def _version(db: psycopg.Connection[Any]) -> int | None:
    row = db.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else None


def binaries() -> Path | None:
    """The folder of initdb, pg_ctl and postgres: on PATH, or Debian's newest version."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    return Path(versions[-1]).parent if versions else None


def unavailable() -> str | None:
    """Why no throw-away cluster can be made on this machine (None: one can)."""
    if binaries() is None:
        return "PostgreSQL is not installed (no initdb; Debian: apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root, and there is no {SERVER_USER!r} user to run PostgreSQL"
        if shutil.which("runuser") is None:
            return "running as root, and there is no runuser to run PostgreSQL as another user"
    return None


OWNER = "owner.pid"  # in a cluster's folder: the process that made it


def sweep(bin_dir: Path) -> None:
    """Stop and delete the clusters left by processes that died before they could (a test run
    killed outright): pg_ctl starts a server that outlives the process that started it."""
    for folder in Path(tempfile.gettempdir()).glob("wit-pg-*"):
        try:
            owner = int((folder / OWNER).read_text())
        except (OSError, ValueError):
            continue  # being made, or not ours
        try:
            os.kill(owner, 0)
            continue  # its maker runs still
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        if (folder / "data" / "postmaster.pid").exists():
            prefix = ["runuser", "-u", SERVER_USER, "--"] if os.geteuid() == 0 else []
            subprocess.run(
                [
                    *prefix,
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(folder / "data"),
                    "-m",
                    "immediate",
                    "stop",
                ],
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(folder, ignore_errors=True)


class ThrowawayCluster:
    def __init__(self, *, fsync: bool = False) -> None:
        """`fsync`: flush writes as a production server does (a bench's measurements), rather
        than skip it (tests); commits are asynchronous either way (`synchronous_commit=off`,
        what SQLite's `synchronous=NORMAL` is to the hub: a commit survives the server process
        killed, not the machine's power cut)."""
        reason = unavailable()
        if reason is not None:
            raise RuntimeError(reason)
        self.bin = binaries() or Path()
        self.folder = Path(tempfile.mkdtemp(prefix="wit-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self.user: str | None = SERVER_USER if os.geteuid() == 0 else None
        self._numbers = itertools.count(1)
        self._free: list[str] = []  # emptied databases, to give again
        self._template: list[tuple[str, list[tuple[Any, ...]]]] = []  # its rows, by table
        self._version: int | None = None  # the template's schema version
        self.started = False
        self.fsync = fsync
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        done = subprocess.run(
            [*prefix, *command], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"{Path(command[0]).name} failed ({done.returncode}): "
                f"{(done.stderr or done.stdout)[-2000:]}"
            )

    def start(self) -> ThrowawayCluster:
        sweep(self.bin)
        (self.folder / OWNER).write_text(f"{os.getpid()}\n")
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        flush = "" if self.fsync else "-c fsync=off -c full_page_writes=off "
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 {flush}"
            "-c synchronous_commit=off -c max_connections=200 -c shared_buffers=128MB"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        self.started = True
        with psycopg.connect(self.url("postgres"), autocommit=True) as db:
            db.execute(f"CREATE DATABASE {TEMPLATE}")
        PostgresStore(self.url(TEMPLATE)).close()  # the store's tables, made once
        with psycopg.connect(self.url(TEMPLATE), autocommit=True) as db:
            self._version = _version(db)
            for table in _tables(db):
                rows = db.execute(f"SELECT * FROM {table}").fetchall()
                if rows:
                    self._template.append((table, rows))
        return self

    def url(self, database: str) -> str:
        """A URL of one of its databases, through its unix socket."""
        return f"postgresql:///{database}?host={self.folder}&port={self.port}&user=postgres"

    def tcp_url(self, database: str) -> str:
        """A URL of one of its databases, over TCP on 127.0.0.1."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """The name of a database of the store's tables as a new store makes them, no more."""
        if self._free:
            return self._free.pop()
        name = f"wit_{next(self._numbers)}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
        return name

    def release(self, name: str) -> None:
        """Give a database back: emptied to the template's state for the next test, or dropped
        when it cannot be (its schema changed, or a connection holds a lock in it)."""
        try:
            with psycopg.connect(self.url(name), autocommit=True) as db:
                if _version(db) != self._version:
                    raise LookupError("its schema changed")
                with db.transaction():
                    db.execute("SET LOCAL lock_timeout = '5s'")
                    # Triggers off: the append-only tables are emptied too.
                    db.execute("SET LOCAL session_replication_role = replica")
                    for table in _tables(db):
                        db.execute(f"DELETE FROM {table}")
                    for (sequence,) in db.execute(
                        "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
                    ).fetchall():
                        db.execute("SELECT setval(%s, 1, false)", (sequence,))
                    for table, rows in self._template:
                        marks = ", ".join(["%s"] * len(rows[0]))
                        with db.cursor() as cursor:
                            cursor.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        except (psycopg.Error, LookupError):
            self.drop(name)
            return
        self._free.append(name)

    def drop(self, name: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as db:
            db.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def restart(self) -> None:
        """Stop the server (ending every connection to it) and start it again."""
        log = str(self.folder / "server.log")
        pg_ctl = str(self.bin / "pg_ctl")
        self._run(pg_ctl, "-D", str(self.data), "-l", log, "-m", "fast", "-w", "restart")

    def stop(self) -> None:
        try:
            if self.started:
                self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
                self.started = False
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
