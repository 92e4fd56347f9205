"""A stand-in for a studio's own script: writes a small report for the name it is given."""

import sys
from pathlib import Path

name = sys.argv[1]
Path(f"report-{name}.txt").write_text(f"report for {name}: {len(name)} letters\n")
print(f"wrote the report for {name}")
