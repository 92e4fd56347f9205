"""Which paths a scene writes lead out of its folder, judged on the text alone (references.py):
the rule the hub, a client and a node apply before Blender reads anything."""

from __future__ import annotations

import ast

import pytest

from witengine.plugins.render import file_outputs, references
from witengine.plugins.render.blender import SETUP_SCRIPT
from witengine.plugins.render.errors import RenderFailure
from witengine.plugins.render.references import Reference, leaves_folder, refusal


@pytest.mark.parametrize(
    ("path", "outside"),
    [
        ("//textures/wood.png", False),
        ("//./textures/../wood.png", False),
        ("textures/wood.png", False),  # from the folder Blender runs in: the run's own
        ("//cache_fluid/", False),
        ("//<UDIM>/wood.<UDIM>.png", False),
        ("/home/someone/private.png", True),
        ("//../secret.png", True),
        ("//textures/../../secret.png", True),
        ("../secret.png", True),
        ("///etc/passwd", True),
        ("//..\\secret.png", True),
        ("C:\\Users\\someone\\private.png", True),
        ("c:private.png", True),
        ("\\\\server\\share\\private.png", True),
        ("\\private.png", True),
        ("//textures/C:/x.png", True),
    ],
)
def test_a_path_leaves_the_scenes_folder_when_absolute_or_climbing_out(
    path: str, outside: bool
) -> None:
    assert leaves_folder(path) is outside


def test_a_refusal_names_what_is_outside_and_what_is_not_carried_but_allows_caches() -> None:
    found = [
        Reference("image", "wood", "//textures/wood.png"),
        Reference("image", "private", "/home/someone/private.png"),
        Reference("fluid cache", "fluid domain", "//cache_fluid/", cache=True),
    ]

    refused = refusal("shot.blend", found, absent=True)
    on_a_node = refusal("shot.blend", found, absent=False)

    assert refused is not None and on_a_node is not None
    assert refused.message.startswith(
        "the scene shot.blend uses files it does not carry: //textures/wood.png (image 'wood'); "
        "and refers to files outside itself, which a node never reads: "
        "/home/someone/private.png (image 'private'); pack them"
    )
    assert "wood" not in on_a_node.message  # a node's Blender looks in its own folder
    assert refusal("shot.blend", found[2:], absent=True) is None


def written(path: str) -> Reference:
    return Reference("file output", "passes", path, writes=True, owner="scene 'Scene'")


@pytest.mark.parametrize(
    ("path", "outside"),
    [
        ("//passes/image", False),
        ("passes/image", False),
        ("/tmp/elsewhere/image", True),
        ("//../x/image", True),
        ("//passes/../../x/image", True),
        ("//{scene}/image", True),  # a template variable's value is the scene's to choose
    ],
)
def test_a_file_output_is_refused_when_it_writes_outside_the_folder_and_never_counts_as_missing(
    path: str, outside: bool
) -> None:
    for absent in (True, False):
        refused = refusal("shot.blend", [written(path)], absent=absent)

        assert (refused is not None) is outside
    if outside:
        assert refused is not None and refused.failure is RenderFailure.OUTSIDE_FILES
        assert refused.message == (
            "the scene shot.blend writes files outside itself, which a node never allows: "
            f"{path} (file output 'passes' in scene 'Scene'); give each File Output node a "
            "relative path inside the scene's folder (such as //passes/, without template "
            "variables) or remove it: a node sends back only the rendered frames"
        )


def test_a_refusal_of_files_read_and_written_outside_gives_both_pieces_of_advice() -> None:
    found = [Reference("image", "private", "/home/someone/private.png"), written("/tmp/x")]

    refused = refusal("shot.blend", found, absent=False)

    assert refused is not None
    assert refused.message == (
        "the scene shot.blend refers to files outside itself, which a node never reads: "
        "/home/someone/private.png (image 'private'); and writes files outside itself, which a "
        "node never allows: /tmp/x (file output 'passes' in scene 'Scene'); pack them into the "
        ".blend in Blender (File > External Data > Pack Resources; bake caches into it) or "
        "submit it with wit run, which packs what it can; and give each File Output node a "
        "relative path inside the scene's folder (such as //passes/, without template "
        "variables) or remove it: a node sends back only the rendered frames"
    )


def test_blenders_setup_script_gives_the_same_advice_as_the_hub_and_the_node() -> None:
    # blender_setup.py runs on Blender's own Python and imports nothing of witengine, so it
    # repeats these texts: read them from its source, as Blender would run it.
    tree = ast.parse(SETUP_SCRIPT.read_text())
    found = {
        target.id: ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant | ast.Tuple)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert found["PACK_ADVICE"] == references.PACK_ADVICE
    assert found["WRITE_ADVICE"] == references.WRITE_ADVICE
    assert found["FILE_OUTPUT"] == file_outputs.FILE_OUTPUT
