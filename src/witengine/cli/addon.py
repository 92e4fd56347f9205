"""`wit addon`: the Blender add-on; build its packages, install it into the user's Blender."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

addon_app = typer.Typer(
    name="addon",
    help="The Blender add-on: build its packages, or install it into your Blender.",
    add_completion=False,
    no_args_is_help=True,
)


@addon_app.command()
def build(
    out: Annotated[Path, typer.Option("--out", help="The folder the two zips go to.")] = Path(
        "dist"
    ),
) -> None:
    """Build the add-on zip (Blender 3.4 and later) and the extension zip (4.2 and later)."""
    from witengine.addon import build as build_packages

    legacy, extension = build_packages(out)
    print(f"add-on:    {legacy}  (Blender 3.4+: Preferences > Add-ons > Install)")
    print(
        f"extension: {extension}  (Blender 4.2+: Preferences > Get Extensions > Install from Disk)"
    )


@addon_app.command()
def install(
    blender: Annotated[
        str | None,
        typer.Option("--blender", help="The Blender to install into (default: on PATH)."),
    ] = None,
    enable: Annotated[
        bool, typer.Option("--enable/--no-enable", help="Enable it in Blender's preferences.")
    ] = True,
) -> None:
    """Install the add-on into your Blender's user add-on folder and enable it."""
    from witengine.addon import AddonError
    from witengine.addon import install as install_addon

    try:
        target = install_addon(blender, enable=enable)
    except AddonError as error:
        print(f"wit addon install: {error}", file=sys.stderr)
        raise typer.Exit(1) from None
    print(f"installed in {target}" + (", enabled" if enable else ""))
    print("in Blender: Preferences > Add-ons > witengine: set the hub, then Render Properties")
