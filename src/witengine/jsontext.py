"""JSON text of values that are JSON already (a map's items, a result), from encoders built once.

`json.dumps`, and even a kept `JSONEncoder`'s `encode`, build a new C encoder on every call: for a
small value that costs several times the encoding itself, and the hub and its nodes encode one
value per item (a map's arguments, each result). These encoders are built once and give the same
text as `json.dumps(value, separators=(",", ":"))`, with `sort_keys` for the canonical form. They
check no reference cycles: a value decoded from JSON, or encoded for it, has none.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from json import encoder as _encoder
from typing import Any

Encode = Callable[[Any], str]


def _build(*, sort_keys: bool) -> Encode:
    fallback = json.JSONEncoder(separators=(",", ":"), sort_keys=sort_keys, check_circular=False)
    make = getattr(_encoder, "c_make_encoder", None)
    if make is None:  # a Python without the C accelerator: the same text, more slowly
        return fallback.encode
    chunks = make(
        None,  # no cycle check (see above)
        fallback.default,
        _encoder.encode_basestring_ascii,
        None,  # no indent
        ":",
        ",",
        sort_keys,
        False,  # skipkeys
        True,  # allow_nan, as json.dumps
    )
    quote = _encoder.encode_basestring_ascii

    def encode(value: Any) -> str:
        if isinstance(value, str):
            return quote(value)
        return "".join(chunks(value, 0))

    return encode


compact: Encode = _build(sort_keys=False)
"""`json.dumps(value, separators=(",", ":"))`"""

canonical: Encode = _build(sort_keys=True)
"""`json.dumps(value, separators=(",", ":"), sort_keys=True)`: one text for one value."""
