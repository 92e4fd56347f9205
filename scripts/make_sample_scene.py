"""Makes the sample animated scene for the render examples, tests and benchmarks.

Run it with Blender, which needs no display for this:

    blender -b --factory-startup -noaudio --python-exit-code 1 \
        -P scripts/make_sample_scene.py -- sample.blend [--frames 48] [--width 320 --height 180]
        [--engine CYCLES|BLENDER_WORKBENCH|BLENDER_EEVEE] [--samples 16]
        [--texture PATH] [--missing-texture PATH] [--link PATH] [--absolute-paths] [--dither 1.0]
        [--file-output PATH [--file-output-slot PATH] [--file-output-in-group]]

The scene: a ground plane, a cube that turns and slides, a ball that bounces, a sun and a camera,
animated over `--frames` frames at 24 frames per second. `--texture` gives the cube the image at
PATH as its colour, an external file the scene refers to; `--missing-texture` gives it an image
texture that points at PATH as written, which need not exist (to test the missing-file error
and the paths a node refuses). `--link` links the first object of the .blend at PATH into the
scene (a linked library). Paths are saved relative to the scene unless `--absolute-paths`.
`--file-output` adds a compositor File Output node that writes the rendered image under PATH
(its base path, saved as written), from a slot named `image` unless `--file-output-slot`, inside
a node group with `--file-output-in-group`.
`--dither` sets the noise Blender adds as it turns its colours into 8-bit pixels (Blender's own
default, 1.0; 0 for none).
The file is saved uncompressed, so its header tells which Blender version wrote it.
"""

import argparse
import math
import sys
from pathlib import Path

import bpy


def arguments() -> argparse.Namespace:
    argv = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else []
    parser = argparse.ArgumentParser(prog="make_sample_scene.py")
    parser.add_argument("output")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=180)
    parser.add_argument("--engine", default="CYCLES")
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--texture", default=None)
    parser.add_argument("--missing-texture", default=None)
    parser.add_argument("--link", default=None)
    parser.add_argument("--absolute-paths", action="store_true")
    parser.add_argument("--dither", type=float, default=1.0)
    parser.add_argument("--file-output", default=None)
    parser.add_argument("--file-output-slot", default="image")
    parser.add_argument("--file-output-in-group", action="store_true")
    return parser.parse_args(argv)


def material(name: str, color: tuple[float, float, float]) -> bpy.types.Material:
    made = bpy.data.materials.new(name)
    made.use_nodes = True
    shader = made.node_tree.nodes["Principled BSDF"]
    shader.inputs["Base Color"].default_value = (*color, 1.0)
    shader.inputs["Roughness"].default_value = 0.4
    made.diffuse_color = (*color, 1.0)  # what Workbench shows
    return made


def add_texture(target: bpy.types.Material, path: str, missing: bool = False) -> None:
    nodes = target.node_tree.nodes
    texture = nodes.new("ShaderNodeTexImage")
    if missing:
        image = bpy.data.images.new("missing", 4, 4)
        image.source = "FILE"
        image.filepath = path
    else:
        image = bpy.data.images.load(path)
    texture.image = image
    target.node_tree.links.new(
        texture.outputs["Color"], nodes["Principled BSDF"].inputs["Base Color"]
    )


def add_file_output(scene: bpy.types.Scene, options: argparse.Namespace) -> None:
    """A File Output node fed the rendered image, in the scene's compositor or a group in it."""
    scene.use_nodes = True
    tree = scene.node_tree
    layers = next(node for node in tree.nodes if node.type == "R_LAYERS")
    owner = tree
    if options.file_output_in_group:
        owner = bpy.data.node_groups.new("outputs", "CompositorNodeTree")
        owner.inputs.new("NodeSocketColor", "Image")
        group = tree.nodes.new("CompositorNodeGroup")
        group.node_tree = owner
        tree.links.new(layers.outputs["Image"], group.inputs[0])
        source = owner.nodes.new("NodeGroupInput").outputs[0]
    else:
        source = layers.outputs["Image"]
    output = owner.nodes.new("CompositorNodeOutputFile")
    output.name = "passes"
    output.base_path = options.file_output
    output.format.file_format = "PNG"
    output.file_slots[0].path = options.file_output_slot
    owner.links.new(source, output.inputs[0])


def build(options: argparse.Namespace) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, options.frames
    scene.render.fps = 24
    scene.render.resolution_x, scene.render.resolution_y = options.width, options.height
    scene.render.resolution_percentage = 100
    scene.render.engine = options.engine
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    scene.render.dither_intensity = options.dither
    if options.engine == "CYCLES":
        scene.cycles.device = "CPU"
        scene.cycles.samples = options.samples
        scene.cycles.use_denoising = False
        scene.cycles.use_adaptive_sampling = False
        scene.cycles.max_bounces = 4
    elif options.engine == "BLENDER_EEVEE":
        scene.eevee.taa_render_samples = options.samples
    else:
        scene.display.shading.light = "STUDIO"
        scene.display.shading.color_type = "MATERIAL"

    world = bpy.data.worlds.new("sky")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.45, 0.6, 0.85, 1.0)
    world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.6
    scene.world = world

    bpy.ops.mesh.primitive_plane_add(size=20)
    bpy.context.object.data.materials.append(material("ground", (0.55, 0.55, 0.5)))

    bpy.ops.mesh.primitive_cube_add(size=1.2, location=(-2.0, 0.0, 0.6))
    cube = bpy.context.object
    cube_material = material("cube", (0.9, 0.35, 0.1))
    cube.data.materials.append(cube_material)
    if options.texture:
        add_texture(cube_material, options.texture)
    if options.missing_texture:
        add_texture(cube_material, options.missing_texture, missing=True)
    last = options.frames
    cube.keyframe_insert("location", frame=1)
    cube.keyframe_insert("rotation_euler", frame=1)
    cube.location.x = 2.0
    cube.rotation_euler.z = math.pi
    cube.keyframe_insert("location", frame=last)
    cube.keyframe_insert("rotation_euler", frame=last)

    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.5, location=(0.0, -1.5, 0.5))
    ball = bpy.context.object
    ball.data.materials.append(material("ball", (0.15, 0.45, 0.9)))
    bpy.ops.object.shade_smooth()
    bounces = 3
    for step in range(bounces * 2 + 1):
        frame = 1 + round(step * (last - 1) / (bounces * 2))
        ball.location.z = 0.5 if step % 2 == 0 else 2.0
        ball.keyframe_insert("location", index=2, frame=frame)

    bpy.ops.object.light_add(type="SUN", rotation=(math.radians(40), 0.0, math.radians(30)))
    bpy.context.object.data.energy = 3.0

    if options.link:
        with bpy.data.libraries.load(options.link, link=True) as (source, target):
            target.objects = source.objects[:1]
        for linked in target.objects:
            scene.collection.objects.link(linked)

    bpy.ops.object.camera_add(location=(0.0, -8.0, 3.5), rotation=(math.radians(72), 0.0, 0.0))
    scene.camera = bpy.context.object
    if options.file_output is not None:
        add_file_output(scene, options)


def main() -> None:
    options = arguments()
    build(options)
    bpy.ops.wm.save_as_mainfile(
        filepath=str(Path(options.output).resolve()),
        compress=False,
        relative_remap=not options.absolute_paths,
    )
    print(
        f"sample scene: {options.output} ({options.frames} frames, "
        f"{options.width}x{options.height}, {options.engine})"
    )


main()
