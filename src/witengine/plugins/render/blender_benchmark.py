"""Runs inside Blender for the render benchmark: `blender --factory-startup -b -P
blender_benchmark.py -o … -f 1..4 -- WIDTH HEIGHT SAMPLES`.

It builds the benchmark's tiny scene in place of the factory startup file's: a ground, a turning
cube, a glossy ball, a sun and a sky, rendered by Cycles on the CPU with fixed samples and no
denoising or adaptive sampling, so every machine does the same work. It runs on Blender's own
Python, so it imports nothing of witengine.
"""

from __future__ import annotations

import math
import sys

import bpy  # type: ignore[import-not-found]  # Blender's own module, there only


def material(name: str, color: tuple[float, float, float], roughness: float) -> object:
    made = bpy.data.materials.new(name)
    made.use_nodes = True
    shader = made.node_tree.nodes["Principled BSDF"]
    shader.inputs["Base Color"].default_value = (*color, 1.0)
    shader.inputs["Roughness"].default_value = roughness
    return made


def build(width: int, height: int, samples: int) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.frame_start, scene.frame_end = 1, 4
    scene.render.resolution_x, scene.render.resolution_y = width, height
    scene.render.resolution_percentage = 100
    scene.render.engine = "CYCLES"
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.cycles.use_adaptive_sampling = False
    scene.cycles.max_bounces = 4
    world = bpy.data.worlds.new("sky")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.45, 0.6, 0.85, 1.0)
    scene.world = world
    bpy.ops.mesh.primitive_plane_add(size=20)
    bpy.context.object.data.materials.append(material("ground", (0.55, 0.55, 0.5), 0.6))
    bpy.ops.mesh.primitive_cube_add(size=1.2, location=(-1.0, 0.0, 0.6))
    cube = bpy.context.object
    cube.data.materials.append(material("cube", (0.9, 0.35, 0.1), 0.4))
    cube.keyframe_insert("rotation_euler", frame=1)
    cube.rotation_euler.z = math.pi / 2
    cube.keyframe_insert("rotation_euler", frame=4)
    bpy.ops.mesh.primitive_uv_sphere_add(radius=0.6, location=(1.0, -0.5, 0.6))
    bpy.context.object.data.materials.append(material("ball", (0.15, 0.45, 0.9), 0.1))
    bpy.ops.object.shade_smooth()
    bpy.ops.object.light_add(type="SUN", rotation=(math.radians(40), 0.0, math.radians(30)))
    bpy.context.object.data.energy = 3.0
    bpy.ops.object.camera_add(location=(0.0, -7.0, 3.0), rotation=(math.radians(72), 0.0, 0.0))
    scene.camera = bpy.context.object


def main() -> None:
    width, height, samples = (int(value) for value in sys.argv[sys.argv.index("--") + 1 :][:3])
    build(width, height, samples)


main()
