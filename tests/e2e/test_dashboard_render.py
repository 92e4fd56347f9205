"""The render example through the dashboard, as an artist uses it: Chromium, a real hub and one
real node with Blender and FFmpeg. The script is uploaded, the .blend chosen for its frames and
the job started from the form; its page fills live (batches on the timeline, a thumbnail per
frame as it arrives, the newest frame large); then the video plays in the page and every file
downloads. A scene that does not carry its texture is refused at submit, the texture named.
Screenshots go where the other browser tests put theirs (browsing.SHOTS).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browsing import BROWSER, expect, shot

from witengine.testing.processes import ProcessFarm, free_port, wait_until
from witengine.testing.scenes import make_sample_scene
from witengine.testing.swatches import png

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "render_animation.wit"
MISSING = [tool for tool in ("blender", "ffmpeg") if shutil.which(tool) is None]
pytestmark = [
    *BROWSER,
    pytest.mark.blender,
    pytest.mark.timeout(300),
    pytest.mark.skipif(
        bool(MISSING),
        reason=f"{' and '.join(MISSING)} not installed (scripts/bootstrap.sh blender ffmpeg)",
    ),
]
# Small enough to take seconds, slow enough per frame that the page shows them arrive: a frame
# takes about 1.5 s here (a warm Blender on one core), the page's updates come every second.
FRAMES, WIDTH, HEIGHT, SAMPLES = 4, 96, 54, 384
NODE = "studio"

# What the job's page showed, each time it changed: its timeline bars, its thumbnails (newest
# first) and the large latest frame. Installed before the page loads, so nothing is missed.
WATCH = """
(() => {
  const seen = (window.seen = []);
  const look = () => {
    const src = (img) => img && img.getAttribute("src");
    const state = {
      bars: document.querySelectorAll(".gantt rect[class*='bar-']").length,
      thumbs: Array.from(document.querySelectorAll("#job-outputs .thumbs img")).map(src),
      latest: src(document.querySelector("#job-outputs figure.latest img")),
    };
    const last = seen[seen.length - 1];
    if (JSON.stringify(state) !== JSON.stringify(last)) seen.push(state);
  };
  new MutationObserver(look).observe(document, { childList: true, subtree: true });
})();
"""

# Whether the page's <video> plays: its first frame decoded, its size and length known.
PLAYS = """
async (video) => {
  video.muted = true;
  if (video.readyState < 2) {
    await new Promise((done, failed) => {
      video.addEventListener("loadeddata", done, { once: true });
      video.addEventListener("error", () => failed(new Error(`video error ${video.error?.code}`)));
      video.preload = "auto";
      video.load();
    });
  }
  await video.play();
  return { width: video.videoWidth, height: video.videoHeight, duration: video.duration };
}
"""


@pytest.fixture(scope="module")
def farm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessFarm]:
    farm = ProcessFarm(tmp_path_factory.mktemp("farm"), free_port())
    farm.start_hub()
    try:
        farm.start_node(NODE, "--threads", "1", "--slots", "1", "--no-bench")
        wait_until(lambda: farm.online() == [NODE], 60, "the node to connect")
        yield farm
    finally:
        farm.stop()


def test_the_render_example_submitted_through_the_form_fills_its_page_and_plays_its_video(
    page: Any, farm: ProcessFarm, tmp_path: Path
) -> None:
    scene = make_sample_scene(
        tmp_path / "shot.blend", frames=FRAMES, width=WIDTH, height=HEIGHT, samples=SAMPLES
    )
    page.goto("/submit")
    page.get_by_label("Script file").set_input_files(str(EXAMPLE))
    expect(page.locator("#diagnostics")).to_contain_text("Job RenderAnimation checks.")
    page.get_by_label(re.compile(r"^frames FrameCollection")).fill(f"shot.blend@1-{FRAMES}")
    page.get_by_label("Files for frames").set_input_files(str(scene))
    shot(page, "submit-render")
    page.add_init_script(WATCH)
    page.get_by_role("button", name="Start the job").click()
    page.wait_for_url(re.compile(r"/jobs/job_\w+$"), timeout=60_000)  # Blender packs first
    job_id = page.url.rsplit("/", 1)[1]

    expect(page.locator(".gantt rect[class*='bar-']").first).to_be_visible()
    expect(page.locator("#job-outputs .thumbs img").first).to_be_visible(timeout=60_000)
    shot(page, "job-render-running")
    expect(page.locator("#job-header .badge")).to_have_text("completed", timeout=120_000)
    job = farm.job(job_id)
    assert job["status"] == "completed", job.get("error")

    # Live: the thumbnails came one swap at a time, newest first, the newest one also large.
    seen: list[dict[str, Any]] = page.evaluate("window.seen")
    counts = [len(state["thumbs"]) for state in seen if state["thumbs"]]
    assert len(set(counts)) >= 2 and counts == sorted(counts), counts
    assert all(s["latest"] == s["thumbs"][0] for s in seen if s["thumbs"]), seen
    assert max(s["bars"] for s in seen) >= 1

    # Finished: the node's batch on the timeline, every frame, the video playing in the page.
    assert page.locator(".gantt rect.bar-finished").count() >= 1
    assert NODE in page.locator(".gantt .row-label").all_text_contents()
    images = job["variables"]["images"]
    assert [image["frame"] for image in images] == list(range(1, FRAMES + 1))
    expect(page.locator("#job-results img")).to_have_count(FRAMES)
    video = page.locator("#job-results video")
    expect(video).to_have_count(1)
    answer = page.request.get(video.get_attribute("src"))
    assert answer.ok and answer.headers["content-type"] == "video/mp4"
    playing = video.evaluate(PLAYS)
    assert (playing["width"], playing["height"]) == (WIDTH, HEIGHT)
    assert playing["duration"] > 0
    shot(page, "job-render-completed")

    # Every file downloads, under its own name, with the bytes the job made.
    links = page.locator("#job-results a[download]")
    expect(links).to_have_count(FRAMES + 1)
    result = job["variables"]["result"]
    for blob in [*images, result]:
        link = page.locator(f'#job-results a[download="{blob["name"]}"]')
        answer = page.request.get(link.get_attribute("href"))
        assert answer.headers["content-disposition"].startswith("attachment")
        assert len(answer.body()) == blob["size"]
    with page.expect_download() as download:
        page.locator(f'#job-results a[download="{result["name"]}"]').click()
    assert download.value.suggested_filename == result["name"]


def test_a_scene_that_does_not_carry_its_texture_is_refused_at_submit_naming_it(
    page: Any, farm: ProcessFarm, tmp_path: Path
) -> None:
    # Beside the scene on the artist's machine; the browser sends the .blend alone.
    texture = tmp_path / "textures" / "wood.png"
    texture.parent.mkdir()
    texture.write_bytes(png(8, 8, (200, 120, 40)))
    scene = make_sample_scene(
        tmp_path / "lost.blend",
        frames=2,
        width=WIDTH,
        height=HEIGHT,
        samples=1,
        extra=("--texture", str(texture)),
    )
    jobs = len(farm.api("GET", "/jobs").json())
    page.goto("/submit")
    page.get_by_label("Script", exact=True).fill(EXAMPLE.read_text())
    expect(page.locator("#diagnostics")).to_contain_text("Job RenderAnimation checks.")
    page.get_by_label(re.compile(r"^frames FrameCollection")).fill("lost.blend@1-2")
    page.get_by_label("Files for frames").set_input_files(str(scene))
    page.get_by_role("button", name="Start the job").click()
    status = page.locator("#submit-status")
    expect(status).to_contain_text(
        "parameter 'frames' (FrameCollection): the scene lost.blend uses files it does not "
        "carry: //textures/wood.png (image 'wood.png')",
        timeout=60_000,
    )
    expect(page.get_by_role("button", name="Start the job")).to_be_enabled()
    shot(page, "submit-render-texture-left-behind")
    assert len(farm.api("GET", "/jobs").json()) == jobs  # nothing was started
