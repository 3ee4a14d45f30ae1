"""`python -m bench`: run every benchmark module in this folder, one process each.

Modules starting with `_` are helpers; `fuzz` is not a benchmark (`make fuzz` runs it).
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

NOT_BENCHMARKS = {"fuzz"}


def main() -> int:
    folder = Path(__file__).parent
    modules = pkgutil.iter_modules([str(folder)])
    names = sorted(m.name for m in modules if not m.name.startswith("_") and m.name not in NOT_BENCHMARKS)
    failed = []
    for name in names:
        print(f"\n===== bench.{name} =====", flush=True)
        if subprocess.call([sys.executable, "-m", f"bench.{name}"], cwd=folder.parent) != 0:
            failed.append(name)
    if failed:
        print(f"\nbenchmarks that did not complete: {', '.join(failed)}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
