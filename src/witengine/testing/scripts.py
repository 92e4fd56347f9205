"""Hostile script texts for tests and measurements: nested as deep, or as long, as a size allows.

Every way the language can nest has a form here (brackets, calls, blocks, chains of operators,
members and indexes), and every way a script can be long without nesting (many statements, many
errors on one line, one huge string, name or comment). The parser's fuzzing, the hub's hostile
tests and `bench/parse_limits.py` use the same texts.
"""

from __future__ import annotations

from collections.abc import Sequence

# How a form nests: the text before and after the innermost part, and that part. A form with no
# text after it (a chain such as `- - x` or `y.a.a`) goes as deep as `before` repeats.
DEEP_FORMS: dict[str, tuple[str, str, str]] = {
    "parentheses": ("(", ")", "1"),
    "arrays": ("[", "]", "1"),
    "calls": ('Format("{0}", ', ")", "1"),
    "constructors": ("Int(", ")", "1"),
    "blocks": ("If(true) { ", " }", "Trace(1);"),
    "else_blocks": ("If(true) { } Else { ", " }", "Trace(1);"),
    "loops": ("ForEach(i in [1]) { ", " }", "Trace(1);"),
    "negations": ("-", "", "1"),
    "spaced_negations": ("- ", "", "1"),
    "nots": ("!", "", "true"),
    "sums": ("1 + ", "", "1"),
    "mixed_operators": ("2 * 1 - ", "", "1"),
    "ands": ("true && ", "", "true"),
    "ors": ("false || ", "", "true"),
    "members": ("", ".a", "y"),
    "members_after_a_call": ("", ".a", "Int(1)"),
    "spaced_members": ("", " .a", "Int(1)"),
    "indexes": ("", "[0]", "y"),
    "index_in_index": ("y[", "]", "0"),
}

_HEAD = "Job:Deep()\n{\n"
_TAIL = "\n}\n"


def deep_script(form: str, size: int) -> str:
    """A job whose one statement nests `form` as deep as `size` characters allow."""
    before, after, inner = DEEP_FORMS[form]
    frame = len(_HEAD) + len(_TAIL) + len(inner) + len("Object:x = ;")
    depth = max(0, (size - frame) // (len(before) + len(after)))
    return nested_script(form, depth)


def nested_script(form: str, depth: int) -> str:
    """A job whose one statement nests `form` `depth` levels deep."""
    before, after, inner = DEEP_FORMS[form]
    body = before * depth + inner + after * depth
    if not body.endswith((";", "}")):
        body = f"Object:x = {body};"
    return _HEAD + body + _TAIL


# Scripts long and flat: each line is one of these, repeated to the size wanted.
LONG_FORMS: dict[str, tuple[str, str, str]] = {
    # (before the repeated part, the repeated part, after it)
    "statements": ("Int:x = 0;\n", "x = x + 1;\n", ""),
    "declarations": ("", "Int:x{} = 1;\n", ""),
    "errors_on_one_line": ("", "x=1;", ""),
    "statements_then_an_error": ("Int:x = 0;\n", "x = 1;\n", "x = ;\n"),
    "comments_then_an_error": ("Int:x = 1", " ~~", "\nInt:y = 2;\n"),
    "string": ('String:s = "', "a", '";\n'),
    "name": ("Int:", "a", " = 1;\n"),
    "comment": ("~", " ", "~\n"),
    "unterminated_string": ('String:s = "', "a", "\n"),
}


def long_script(form: str, size: int) -> str:
    """A job of about `size` characters made long by repeating one flat part of `form`."""
    before, repeated, after = LONG_FORMS[form]
    room = max(0, size - len(_HEAD) - len(_TAIL) - len(before) - len(after))
    if "{}" in repeated:
        parts: list[str] = []
        used = 0
        index = 0
        while used < room:
            part = repeated.format(index)
            parts.append(part)
            used += len(part)
            index += 1
        middle = "".join(parts)
    else:
        middle = repeated * (room // len(repeated))
    return _HEAD + before + middle + after + _TAIL


def is_block_form(form: str) -> bool:
    """Whether `form` nests statements (in blocks) rather than expressions."""
    return DEEP_FORMS[form][2].endswith(";")


def mixed_script(layers: Sequence[tuple[str, int]]) -> str:
    """A job whose one statement nests each `(form, depth)` of `layers` inside the one before,
    blocks outermost (an expression holds no statement): `[("calls", 2), ("blocks", 3),
    ("members", 5)]` is three blocks around a statement whose value is two calls around a chain
    of five members."""
    blocks = [layer for layer in layers if is_block_form(layer[0])]
    expressions = [layer for layer in layers if not is_block_form(layer[0])]
    text = "1"
    for form, depth in reversed(expressions):
        before, after, _ = DEEP_FORMS[form]
        if not (before and after):  # a chain: around the value, in parentheses
            text = f"({text})"
        text = before * depth + text + after * depth
    text = f"Object:x = {text};"
    for form, depth in reversed(blocks):
        before, after, _ = DEEP_FORMS[form]
        text = before * depth + text + after * depth
    return _HEAD + text + _TAIL
