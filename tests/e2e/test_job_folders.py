"""Job folders on a real farm: a hub watching a folder (`wit hub --watch`), a node with Python,
and `wit watch` processes. Files dropped into the folder land in done/NAME/ or failed/NAME/ with
the right content: a .wit with its .params, a .py that writes a file, a .wit with an error
(error.txt names its line), a file written slowly (not taken until complete); a folder watched by
two watchers runs each file once; every folder `--watch` names is watched; a file no node can run
waits, is listed so by `wit resources --jobs`, and fails only when an admin says so (`wit take
--fail`); a file waiting its turn runs at once when `wit take` asks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from witengine.plugins.render.images import png_facts
from witengine.testing.processes import ProcessFarm, free_port, wait_until
from witengine.testing.scenes import make_sample_scene

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
SETTLE = "0.6"
SLOW_JOB = """\
Job:Again(Int:n = 1)
{
    IntCollection:slept = Grid.ForEach(i in Int.Range(0, n)) => Compute.Sleep(500);
}
"""


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFarm]:
    root = tmp_path_factory.mktemp("folders")
    (root / "drop").mkdir()
    (root / "stills").mkdir()
    hub_args = ("--lease", "10", "--heartbeat", "0.5", "--grace", "1", "--no-node-wait", "3")
    watching = ("--watch", str(root / "drop"), "--watch", str(root / "stills"))
    timing = ("--settle", SETTLE, "--poll", "0.2")
    farm = ProcessFarm(root, free_port(), hub_args=(*hub_args, *watching, *timing))
    try:
        farm.start_hub()
        farm.start_node("box", "--slots", "2")
        wait_until(lambda: farm.online() == ["box"], 60, "the node to connect")
        yield farm
    finally:
        farm.stop()


@pytest.fixture
def drop(farm: ProcessFarm) -> Path:
    return farm.root / "drop"


def wit(farm: ProcessFarm, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "witengine", *args, "--hub", farm.url],
        env={**farm.env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def landed(folder: Path, where: str, name: str, timeout: float = 30) -> Path:
    """The folder where/NAME once the watcher has moved it there."""
    target = folder / where / name
    wait_until(target.is_dir, timeout, f"{name} to land in {where}/")
    return target


def test_a_wit_file_runs_with_its_params_and_lands_in_done(drop: Path) -> None:
    (drop / "primes.params").write_text("# the first primes\nn=30\n")
    (drop / "primes.wit").write_text((ROOT / "examples" / "primes.wit").read_text())
    done = landed(drop, "done", "primes")
    results = json.loads((done / "results.json").read_text())
    assert results["status"] == "completed"
    assert results["variables"]["count"] == 10  # 2, 3, 5, 7, 11, 13, 17, 19, 23, 29
    assert sorted(p.name for p in done.iterdir()) == ["primes.params", "primes.wit", "results.json"]
    assert not (drop / "primes.wit").exists() and not (drop / "running" / "primes").exists()


def test_a_python_file_runs_on_a_node_and_its_files_and_output_land_beside_it(
    drop: Path,
) -> None:
    script = "print('made a file')\nopen('made.txt', 'w').write('made by a dropped script')\n"
    (drop / "maker.py").write_text(script)
    done = landed(drop, "done", "maker")
    assert (done / "maker.py").read_text() == script
    assert (done / "files" / "made.txt").read_text() == "made by a dropped script"
    assert (done / "stdout.txt").read_text() == "made a file\n"
    assert (done / "stderr.txt").read_text() == ""
    results = json.loads((done / "results.json").read_text())
    assert results["status"] == "completed"
    assert results["variables"]["files"][0]["path"] == str(done / "files" / "made.txt")


def test_a_wit_file_with_an_error_lands_in_failed_with_the_error_naming_its_line(
    drop: Path,
) -> None:
    (drop / "broken.wit").write_text("Job:Broken()\n{\n    Int:x = Compute.IsPrme(7);\n}\n")
    failed = landed(drop, "failed", "broken")
    error = (failed / "error.txt").read_text()
    assert error.startswith("broken.wit:3:13: unknown activity 'Compute.IsPrme'"), error
    assert "did you mean 'Compute.IsPrime'?" in error
    assert (failed / "broken.wit").exists()


def test_a_wit_file_that_fails_as_it_runs_lands_in_failed_naming_its_line(drop: Path) -> None:
    (drop / "oops.wit").write_text('Job:Oops()\n{\n    Compute.Fail("no frames to read");\n}\n')
    failed = landed(drop, "failed", "oops")
    error = (failed / "error.txt").read_text()
    assert error.startswith("failed: oops.wit:3: Compute.Fail: "), error  # as wit run says it
    assert "no frames to read" in error


def test_a_python_file_that_fails_lands_in_failed_with_its_stderr(drop: Path) -> None:
    (drop / "crash.py").write_text("import sys\nsys.exit('no frames to read')\n")
    failed = landed(drop, "failed", "crash")
    error = (failed / "error.txt").read_text()
    assert error.startswith("failed: "), error
    assert "no frames to read" in error


def test_a_file_being_written_is_not_taken_until_it_is_complete(drop: Path) -> None:
    text = (ROOT / "examples" / "primes.wit").read_text()
    parts = [text[i : i + len(text) // 8 + 1] for i in range(0, len(text), len(text) // 8 + 1)]
    target = drop / "slow.wit"
    (drop / "slow.params").write_text("n=20\n")
    with target.open("w") as handle:  # part of a script does not parse: taken, it would fail
        for part in parts:  # 0.3 s between parts, 2.7 s in all: longer than the settle time
            handle.write(part)
            handle.flush()
            time.sleep(0.3)
            assert target.exists(), "taken while it was still being written"
    done = landed(drop, "done", "slow")
    assert json.loads((done / "results.json").read_text())["variables"]["count"] == 8
    assert not (drop / "failed" / "slow").exists()


def test_a_folder_watched_twice_runs_each_file_once(farm: ProcessFarm, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    ledger = tmp_path / "ledger.txt"
    logs = [(tmp_path / f"watch-{i}.log").open("wb") for i in range(2)]
    watchers = [
        subprocess.Popen(
            [
                *(sys.executable, "-m", "witengine", "watch", str(shared), "--hub", farm.url),
                *("--settle", SETTLE, "--poll", "0.1"),
            ],
            env=farm.env,
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
        for log in logs
    ]
    try:
        names = [f"count{i}" for i in range(4)]
        for name in names:
            (shared / f"{name}.py").write_text(
                f"open({str(ledger)!r}, 'a').write({name!r} + '\\n')\nprint({name!r})\n"
            )
        for name in names:
            assert (landed(shared, "done", name) / "stdout.txt").read_text() == f"{name}\n"
        time.sleep(1.0)  # a second run, if there were one, would have written by now
        assert sorted(ledger.read_text().split()) == names, "a file ran twice (or not at all)"
        assert sorted(p.name for p in (shared / "done").iterdir()) == names
        assert list((shared / "failed").iterdir()) == []
    finally:
        for process, log in zip(watchers, logs, strict=True):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(10)
            log.close()


def test_a_file_no_node_can_run_waits_listed_so_until_an_admin_fails_it(
    farm: ProcessFarm, drop: Path
) -> None:
    (drop / "shot.rib").write_text('Display "shot.tif" "file" "rgba"\n')

    def listed() -> str:
        answer = wit(farm, "resources", "--jobs")
        return answer.stdout if "shot.rib" in answer.stdout else ""

    listing = wait_until(listed, 20, "the .rib to be listed as waiting")
    assert "waiting: no node has prman" in listing
    assert (drop / "shot.rib").exists(), "a file no node can run is not failed on its own"
    resources = wit(farm, "resources", "--json")
    assert resources.returncode == 0, resources.stderr
    (box,) = json.loads(resources.stdout)
    assert box["name"] == "box" and "python" in box["capabilities"]["software"]
    assert box["could_run"] == []
    taken = wit(farm, "take", "shot.rib", "--fail")
    assert taken.returncode == 0, taken.stderr
    failed = landed(drop, "failed", "shot")
    assert "failed by an admin" in (failed / "error.txt").read_text()
    assert "shot.rib" not in wit(farm, "resources", "--jobs").stdout


def test_wit_take_runs_a_waiting_file_now_on_the_node_it_names(
    farm: ProcessFarm, drop: Path
) -> None:
    (drop / "pinned.rib").write_text('Display "pinned.tif" "file" "rgba"\n')
    wait_until(lambda: "pinned.rib" in wit(farm, "resources", "--jobs").stdout, 20, "waiting")
    assert wit(farm, "take", "pinned.rib", "--node", "nobody").returncode == 1
    taken = wit(farm, "take", "drop/pinned.rib", "--node", "box")
    assert taken.returncode == 0, taken.stderr
    # Run on box, which has no prman: the job fails saying it may run only there.
    failed = landed(drop, "failed", "pinned", timeout=40)
    assert "may run only on node 'box'" in (failed / "error.txt").read_text()


def test_every_folder_the_hub_watches_runs_its_files_and_lists_its_waiting_ones(
    farm: ProcessFarm,
) -> None:
    stills = farm.root / "stills"
    (stills / "still.py").write_text("print('from the second folder')\n")
    (stills / "still.rib").write_text('Display "still.tif" "file" "rgba"\n')
    done = landed(stills, "done", "still")
    assert (done / "stdout.txt").read_text() == "from the second folder\n"
    assert not (farm.root / "drop" / "done" / "still").exists()
    wait_until(lambda: "stills/still.rib" in wit(farm, "resources", "--jobs").stdout, 20, "listed")
    (stills / "still.rib").unlink()


def test_wit_take_runs_a_file_waiting_its_turn_now_and_resources_say_who_could_run_it(
    farm: ProcessFarm, tmp_path: Path
) -> None:
    queue = tmp_path / "queue"  # a watcher running one file at a time
    queue.mkdir()
    flag = tmp_path / "go"
    log = (tmp_path / "watch.log").open("wb")
    watcher = subprocess.Popen(
        [
            *(sys.executable, "-m", "witengine", "watch", str(queue), "--hub", farm.url),
            *("--settle", SETTLE, "--poll", "0.1", "--jobs", "1"),
        ],
        env=farm.env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        start_new_session=True,
    )
    try:
        (queue / "long.py").write_text(
            "import os, time\n"
            "deadline = time.monotonic() + 60\n"
            f"while not os.path.exists({str(flag)!r}) and time.monotonic() < deadline:\n"
            "    time.sleep(0.05)\n"
            "print('long done')\n"
        )
        wait_until((queue / "running" / "long" / "long.py").exists, 30, "long.py to be taken")
        (queue / "quick.py").write_text("print('quick done')\n")

        def waiting() -> list[Any]:
            answer = wit(farm, "resources", "--jobs", "--json")
            return [f for f in json.loads(answer.stdout or "[]") if f["file"] == "quick.py"]

        (quick,) = wait_until(waiting, 20, "quick.py to be listed as waiting")
        assert quick["reason"] == "after the 1 job file(s) running" and quick["nodes"] == ["box"]
        (box,) = json.loads(wit(farm, "resources", "--json").stdout)
        assert "queue/quick.py" in box["could_run"]
        assert (queue / "quick.py").exists(), "taken before its turn"

        taken = wit(farm, "take", "quick.py")
        assert taken.returncode == 0, taken.stderr
        assert taken.stderr.strip() == "queue/quick.py: asked to run now"
        done = landed(queue, "done", "quick")
        assert (done / "stdout.txt").read_text() == "quick done\n"
        assert (queue / "running" / "long" / "long.py").exists(), "long.py ended first"
        flag.touch()
        assert (landed(queue, "done", "long") / "stdout.txt").read_text() == "long done\n"
    finally:
        flag.touch()
        os.killpg(watcher.pid, signal.SIGTERM)
        watcher.wait(10)
        log.close()


@pytest.mark.blender
@pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ("blender", "ffmpeg")),
    reason="blender or ffmpeg not installed (scripts/bootstrap.sh blender ffmpeg)",
)
def test_a_blend_file_renders_its_own_frames_and_lands_with_its_video(
    drop: Path, tmp_path: Path
) -> None:
    scene = make_sample_scene(tmp_path / "made.blend", frames=3, width=64, height=36, samples=1)
    shutil.copyfile(scene, drop / ".shot.blend.part")  # copied under a hidden name, then renamed
    (drop / ".shot.blend.part").rename(drop / "shot.blend")
    done = landed(drop, "done", "shot", timeout=90)
    results = json.loads((done / "results.json").read_text())
    assert results["status"] == "completed", results["error"]
    assert sorted(p.name for p in (done / "images").iterdir()) == [
        f"frame_{n:05d}.png" for n in (1, 2, 3)
    ], "the scene's own frame range, 1-3"
    for frame in (done / "images").iterdir():  # and its own resolution
        facts = png_facts(frame.read_bytes())
        assert (facts.width, facts.height) == (64, 36), frame.name
    video = Path(results["variables"]["result"]["path"])
    assert video.parent == done and video.stat().st_size > 0
    assert (done / "shot.blend").read_bytes() == scene.read_bytes()


def test_a_hub_restarted_with_a_file_in_running_takes_it_up_again(
    farm: ProcessFarm, drop: Path
) -> None:
    (drop / "primes.params").unlink(missing_ok=True)
    (drop / "again.params").write_text("n=20\n")
    (drop / "again.wit").write_text(SLOW_JOB)  # 5 s on the node's 2 slots: still running
    running = drop / "running" / "again" / "again.wit"
    wait_until(running.exists, 30, "again.wit to be taken")
    farm.kill_hub()  # its watcher dies with it, the file in running/
    ended = (drop / "done" / "again").exists()
    farm.start_hub()  # the module's later tests need the hub, whatever this one finds
    assert not ended, "the job ended before the hub was killed: nothing was taken up again"
    done = landed(drop, "done", "again", timeout=60)
    assert json.loads((done / "results.json").read_text())["variables"]["slept"] == [500] * 20
    assert not (drop / "running" / "again").exists()


def test_a_waiting_file_taken_away_is_no_longer_listed(farm: ProcessFarm, drop: Path) -> None:
    (drop / "gone.rib").write_text('Display "gone.tif" "file" "rgba"\n')
    wait_until(lambda: "gone.rib" in wit(farm, "resources", "--jobs").stdout, 20, "listed")
    (drop / "gone.rib").unlink()
    wait_until(lambda: "gone.rib" not in wit(farm, "resources", "--jobs").stdout, 20, "unlisted")


def test_a_folder_watched_by_two_hubs_runs_each_file_once(tmp_path: Path) -> None:
    """Two hubs, each with its own store and node, watch one folder on one disk: each claims a
    file on its own blackboard, and only one rename into running/ succeeds."""
    shared = tmp_path / "shared"
    shared.mkdir()
    ledger = tmp_path / "ledger.txt"
    hub_args = ("--lease", "10", "--heartbeat", "0.5", "--grace", "1")
    watching = ("--watch", str(shared), "--settle", SETTLE, "--poll", "0.1")
    farms = [
        ProcessFarm(tmp_path / name, free_port(), hub_args=(*hub_args, *watching))
        for name in ("first", "second")
    ]
    try:
        for farm in farms:
            farm.root.mkdir()
            farm.start_hub()
            farm.start_node("box")
        for farm in farms:
            wait_until(lambda farm=farm: farm.online() == ["box"], 60, "the nodes to connect")
        names = [f"once{i}" for i in range(4)]
        for name in names:
            (shared / f"{name}.py").write_text(
                f"open({str(ledger)!r}, 'a').write({name!r} + '\\n')\n"
            )
        for name in names:
            landed(shared, "done", name)
        time.sleep(1.0)  # a second run, if there were one, would have written by now
        assert sorted(ledger.read_text().split()) == names, "a file ran twice (or not at all)"
        assert sorted(p.name for p in (shared / "done").iterdir()) == names
    finally:
        for farm in farms:
            farm.stop()
