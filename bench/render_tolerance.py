"""What differs between two honest renders of one frame, and whether the render plugin's tolerance
(`RENDERED` in witengine/plugins/render) tells them from wrong ones.

The sample scene's frame is rendered by Cycles on the CPU as nodes would: with 1 thread (the
reference), 2 threads, 8-pixel tiles, and Cycles' AVX and SSE2 kernels instead of the AVX2 one
(what older CPUs run; `CYCLES_CPU_NO_AVX2` and friends choose them). Against these, what a node
that is wrong or cheats might return: a black frame, the frame shifted by one pixel, the next
frame, the frame at an eighth of its samples, and the frame with another seed (other noise).
Each is compared with the reference as the hub compares two nodes' images, and the report gives
the largest channel difference, the share of pixels that differ at all and beyond the tolerance's
level (in the whole frame, and in the worst 64x64 square, which the tolerance's share bounds),
the PSNR, and the tolerance's verdict. With `--floats` it also renders the reference and
the SSE2 kernels as OpenEXR and compares their floating-point pixels (in Blender's Python), which
8-bit images round away.

    .venv/bin/python bench/render_tolerance.py [--width 320 --height 180 --samples 64]
        [--frame 3] [--floats]

Exits 1 when the tolerance accepts a wrong frame or rejects an honest one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageChops

from witengine.hub.comparing import SQUARE, image_difference
from witengine.plugins.render import RENDERED
from witengine.testing.scenes import make_sample_scene

KERNELS = {  # what each older CPU's kernel needs turned off, as Cycles' debug flags say
    "AVX": ("CYCLES_CPU_NO_AVX2",),
    "SSE2": (
        "CYCLES_CPU_NO_AVX2",
        "CYCLES_CPU_NO_AVX",
        "CYCLES_CPU_NO_SSE41",
        "CYCLES_CPU_NO_SSE3",
    ),
}
FLOATS = """
import sys
import bpy
first, second = (bpy.data.images.load(path).pixels[:] for path in sys.argv[-2:])
apart = [abs(a - b) for a, b in zip(first, second)]
print(f"FLOATS {sum(d > 0 for d in apart) / len(apart)} {max(apart)}")
"""


@dataclass(frozen=True)
class Render:
    """How one variant of the frame is rendered: Blender's options and environment."""

    threads: int = 1
    frame_offset: int = 0
    python: str = ""  # run before rendering: settings to change
    disabled: tuple[str, ...] = ()  # Cycles' CPU kernels turned off
    format: str = "PNG"


def render(scene: Path, frame: int, variant: Render, out: Path) -> Path:
    """The frame rendered by Blender as `variant` says, written under `out`."""
    number = frame + variant.frame_offset
    out.mkdir(parents=True)
    environment = {**os.environ, **dict.fromkeys(variant.disabled, "1")}
    subprocess.run(
        [
            *("blender", "-b", str(scene), "-t", str(variant.threads)),
            *(("--python-expr", variant.python) if variant.python else ()),
            *("-o", str(out / "frame_#####"), "-F", variant.format, "-f", str(number)),
        ],
        check=True,
        capture_output=True,
        env=environment,
        timeout=600,
    )
    (written,) = out.glob(f"frame_{number:05d}.*")
    return written


def black(reference: Path, out: Path) -> Path:
    with Image.open(reference) as image:
        Image.new(image.mode, image.size).save(out)
    return out


def shifted(reference: Path, out: Path) -> Path:
    """The frame moved one pixel to the right, its first column repeated."""
    with Image.open(reference) as image:
        moved = ImageChops.offset(image, 1, 0)
        moved.paste(image.crop((0, 0, 1, image.height)), (0, 0))
        moved.save(out)
    return out


def float_difference(scene: Path, frame: int, folder: Path) -> tuple[float, float]:
    """The share of floating-point channel values that differ between the reference and the
    SSE2 kernels' render in OpenEXR, and the largest difference."""
    reference = render(scene, frame, Render(format="OPEN_EXR"), folder / "exr-reference")
    sse2 = render(
        scene, frame, Render(disabled=KERNELS["SSE2"], format="OPEN_EXR"), folder / "exr-sse2"
    )
    done = subprocess.run(
        [
            *("blender", "-b", "--factory-startup", "--python-expr", FLOATS),
            *("--", str(reference), str(sse2)),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("FLOATS "))
    share, largest = (float(word) for word in line.split()[1:])
    return share, largest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--frame", type=int, default=3)
    parser.add_argument("--floats", action="store_true", help="compare OpenEXR renders too")
    options = parser.parse_args()
    if shutil.which("blender") is None:
        print("Blender is not installed (scripts/bootstrap.sh blender)", file=sys.stderr)
        return 2
    fewer = max(1, options.samples // 8)
    honest = {
        "2 threads": Render(threads=2),
        "8-pixel tiles": Render(
            python="import bpy; c = bpy.context.scene.cycles; c.use_auto_tile = True; "
            "c.tile_size = 8"
        ),
        "AVX kernels": Render(disabled=KERNELS["AVX"]),
        "SSE2 kernels": Render(disabled=KERNELS["SSE2"]),
    }
    rendered_wrong = {
        "the next frame": Render(frame_offset=1),
        f"{fewer} samples": Render(
            python=f"import bpy; bpy.context.scene.cycles.samples = {fewer}"
        ),
        "another seed": Render(python="import bpy; bpy.context.scene.cycles.seed = 1"),
    }
    with tempfile.TemporaryDirectory(prefix="render-tolerance-") as name:
        folder = Path(name)
        scene = make_sample_scene(
            folder / "sample.blend",
            frames=options.frame + 1,
            width=options.width,
            height=options.height,
            samples=options.samples,
        )
        reference = render(scene, options.frame, Render(), folder / "reference")
        images = {
            label: (render(scene, options.frame, variant, folder / f"honest-{n}"), True)
            for n, (label, variant) in enumerate(honest.items())
        }
        images["black frame"] = (black(reference, folder / "black.png"), False)
        images["shifted one pixel"] = (shifted(reference, folder / "shifted.png"), False)
        for n, (label, variant) in enumerate(rendered_wrong.items()):
            images[label] = (render(scene, options.frame, variant, folder / f"wrong-{n}"), False)
        floats = float_difference(scene, options.frame, folder) if options.floats else None
        return report(options, reference, images, floats)


def report(
    options: argparse.Namespace,
    reference: Path,
    images: dict[str, tuple[Path, bool]],
    floats: tuple[float, float] | None,
) -> int:
    level, share = RENDERED.level, RENDERED.share
    print(
        f"sample scene, frame {options.frame}, {options.width}x{options.height}, "
        f"{options.samples} samples, Cycles on the CPU; against 1 thread, AVX2 kernels"
    )
    print(f"tolerance: ImagesWithin(level={level}, share={share})")
    beyond, square = f"beyond {level}", f"worst {SQUARE}²"
    print(
        f"{'render':<20} {'largest':>7} {'differ':>9} {beyond:>9} {square:>9} {'PSNR dB':>8}  "
        "verdict"
    )
    mistakes = []
    for label, (path, should_agree) in images.items():
        difference = image_difference(reference, path, level)
        assert difference is not None, f"{label}: not an image of the reference's size"
        agrees = difference.within(RENDERED)
        right = agrees == should_agree
        if not right:
            mistakes.append(label)
        verdict = ("accepted" if agrees else "rejected") + ("" if right else "  WRONG")
        print(
            f"{label:<20} {difference.largest:>7} {difference.share_beyond(0):>9.3%} "
            f"{difference.share_beyond(level):>9.2%} "
            f"{difference.worst_square / SQUARE**2:>9.2%} {difference.psnr:>8.2f}  {verdict}"
        )
    if floats is not None:
        print(
            f"OpenEXR, SSE2 kernels against AVX2: {floats[0]:.1%} of float values differ, "
            f"by up to {floats[1]:.5f}"
        )
    print(
        "every honest render accepted and every wrong one rejected: "
        + ("yes" if not mistakes else f"no ({', '.join(mistakes)})")
    )
    return 1 if mistakes else 0


if __name__ == "__main__":
    sys.exit(main())
