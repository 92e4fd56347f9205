"""Hypothesis strategies for Wit syntax trees and script text.

The trees are those the parser can produce: names are identifiers that are not keywords, numbers
are not negative (`-7` parses as a negation of 7), a name used as a value has no dot (a dotted one
parses as member accesses) and decimals are finite.
"""

from __future__ import annotations

from hypothesis import strategies as st

from witengine.lang import syntax as s
from witengine.testing.scripts import DEEP_FORMS, LONG_FORMS, long_script, mixed_script

KEYWORDS = frozenset({"Job", "Else", "in", "true", "True", "false", "False", "null", "NULL"})
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
ARITHMETIC = ("+", "-", "*", "/", "%")
LOGIC = ("||", "&&")

# Words a script is made of; the fuzzer puts them where they do not belong.
TOKENS = (
    "Job", ":", "(", ")", "{", "}", "[", "]", ";", ",", ".", "=", "=>", "in", "Else",
    "If", "Loop", "ForEach", "Grid.ForEach", "Grid.Delegate", "Break", "Int", "x",
    "1", "2.5", "1e-3", "1e999", '"', '"s"', "\\", "\\u12", "~", "~ c ~",
    "||", "&&", "!", "==", "<", "-", "+", "*", "%", "true", "NULL", "\n", " ", "\t",
)  # fmt: skip

SCRIPTS = (
    """Job:RenderAnimation(FrameCollection:frames)
{
~ Distribute rendering across all available machines ~
ImageCollection:images = Grid.ForEach(frame in frames)
=> Renderer.RenderFrame(frame);
Video:result = Video.Compose(images);
}""",
    """~ Count the primes below n ~
Job:CountPrimes(Long:n = 20000, String:label = "pri\\u006des\\n")
{
    LongCollection:numbers = Long.Range(2, n);
    BoolCollection:flags = Grid.ForEach(x in numbers, ProcessingOptions("Queued", 4))
        => Compute.IsPrime(x);
    Int:count = 0;
    ForEach(pair in Zip(numbers, flags))
    {
        If(pair.Item2 && !(count >= 10) || false)
        {
            count = count + 1 * -2 % 3;
        }
        Else
        {
            Continue;
        }
    }
    Parallel.Invoke() { Delay(5) { Break; } Timer(10, 100) { Pause(1, "p"); } }
    Image:first = Grid.Delegate => Renderer.Render(numbers[0].Item1);
    Trace(Format("{0} primes below {1}", count, n), True);
    Return([1, [2.5, 1e-3], null]);
}""",
)


def _is_name(text: str) -> bool:
    return text not in KEYWORDS


simple_names = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,6}\Z").filter(_is_name)
qualified_names = st.lists(simple_names, min_size=1, max_size=3).map(".".join)

int_literals = st.builds(s.IntLiteral, st.integers(min_value=0, max_value=10**20))
decimal_literals = st.builds(
    s.DecimalLiteral,
    st.floats(min_value=0.0, allow_nan=False, allow_infinity=False).filter(
        lambda value: str(value) != "-0.0"
    ),
)
string_literals = st.builds(s.StringLiteral, st.text(max_size=12))
bool_literals = st.builds(s.BoolLiteral, st.booleans())
literals: st.SearchStrategy[s.Expr] = st.one_of(
    int_literals,
    decimal_literals,
    string_literals,
    bool_literals,
    st.just(s.NullLiteral()),
)
leaves: st.SearchStrategy[s.Expr] = st.one_of(literals, st.builds(s.NameRef, simple_names))

# A member may be named like a keyword (`t.in`): after a '.' only a name can come.
member_names = st.one_of(simple_names, st.sampled_from(sorted(KEYWORDS)))


def _compounds(inner: st.SearchStrategy[s.Expr]) -> st.SearchStrategy[s.Expr]:
    args = st.lists(st.one_of(inner, st.builds(s.Binding, simple_names, inner)), max_size=3)
    return st.one_of(
        st.builds(s.ArrayLiteral, st.lists(inner, max_size=3).map(tuple)),
        st.builds(s.Member, inner, member_names),
        st.builds(s.Index, inner, inner),
        st.builds(s.Call, qualified_names, args.map(tuple)),
        st.builds(s.Unary, st.sampled_from(["-", "!"]), inner),
        st.builds(s.Binary, st.sampled_from(COMPARISONS + ARITHMETIC + LOGIC), inner, inner),
    )


expressions: st.SearchStrategy[s.Expr] = st.recursive(leaves, _compounds, max_leaves=8)
arguments: st.SearchStrategy[s.Arg] = st.one_of(
    expressions, st.builds(s.Binding, simple_names, expressions)
)
argument_lists = st.lists(arguments, max_size=3).map(tuple)
calls = st.builds(s.Call, qualified_names, argument_lists)
arrows = st.builds(
    s.Arrow,
    st.sampled_from(["Grid.ForEach", "Grid.Delegate", "Transform.ForEach"]) | qualified_names,
    st.none() | argument_lists,
    expressions,
)
values: st.SearchStrategy[s.Expr | s.Arrow] = st.one_of(expressions, arrows)

simple_statements: st.SearchStrategy[s.Statement] = st.one_of(
    st.builds(s.Declaration, qualified_names, simple_names, st.none() | values),
    st.builds(s.Assignment, simple_names, values),
    st.builds(s.CallStatement, calls),
    st.builds(
        s.CallStatement, st.builds(s.Call, st.sampled_from(["Break", "Continue"]), st.just(()))
    ),
    st.builds(s.ArrowStatement, arrows),
)


def _blocks(inner: st.SearchStrategy[s.Statement]) -> st.SearchStrategy[s.Statement]:
    blocks = st.lists(inner, max_size=3).map(lambda body: s.Block(tuple(body)))
    return st.builds(
        s.Composite,
        st.sampled_from(["If", "Loop", "ForEach", "Parallel.ForEach", "Invoke", "Timer"])
        | qualified_names,
        argument_lists,
        blocks,
        st.none() | blocks,
    )


statements: st.SearchStrategy[s.Statement] = st.recursive(simple_statements, _blocks, max_leaves=6)
parameters = st.builds(s.Parameter, qualified_names, simple_names, st.none() | expressions)
jobs = st.builds(
    s.Job,
    simple_names,
    st.lists(parameters, max_size=3).map(tuple),
    st.lists(statements, max_size=5).map(lambda body: s.Block(tuple(body))),
)

comment_texts = st.text(
    alphabet=st.characters(blacklist_characters="~", blacklist_categories=("Cs",)), max_size=10
).map(lambda text: f"~{text}~")


def comment_gaps(source: str) -> list[int]:
    """Offsets in `source` where a comment may go: blanks and after one-character punctuation,
    outside strings and comments."""
    gaps = [0, len(source)]
    in_string = in_comment = False
    index = 0
    while index < len(source):
        char = source[index]
        if in_comment:
            in_comment = char != "~"
        elif in_string:
            if char == "\\":
                index += 1
            elif char == '"':
                in_string = False
        elif char == "~":
            in_comment = True
        elif char == '"':
            in_string = True
        elif char in " \n":
            gaps.append(index)
        elif char in "(){};,":
            gaps.append(index + 1)
        index += 1
    return sorted(set(gaps))


@st.composite
def with_comments(draw: st.DrawFn, source: str) -> tuple[str, list[str]]:
    """`source` with comments put in some of its gaps; also the comments, in order."""
    gaps = comment_gaps(source)
    chosen = draw(st.lists(st.sampled_from(gaps), max_size=6))
    texts = [draw(comment_texts) for _ in chosen]
    placed = sorted(zip(chosen, texts, strict=True), key=lambda pair: pair[0])
    out: list[str] = []
    last = 0
    for offset, text in placed:
        out.append(source[last:offset])
        out.append(f" {text} ")
        last = offset
    out.append(source[last:])
    return "".join(out), [text for _, text in placed]


# ------------------------------------------------------- deep and long texts

# Depths around the nesting limit, and far past it (up to what a hub's largest script holds).
depths = st.one_of(st.integers(0, 200), st.integers(0, 60_000))
nesting_layers = st.lists(
    st.tuples(st.sampled_from(sorted(DEEP_FORMS)), depths), min_size=1, max_size=4
)


@st.composite
def deep_scripts(draw: st.DrawFn) -> str:
    """Forms of nesting inside one another (blocks around calls around a chain of members…),
    each some levels deep, sometimes cut short so that brackets are left open."""
    source = mixed_script(draw(nesting_layers))
    if draw(st.booleans()):
        return source
    return source[: draw(st.integers(0, len(source)))]


long_scripts = st.builds(long_script, st.sampled_from(sorted(LONG_FORMS)), st.integers(0, 20_000))
