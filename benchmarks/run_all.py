"""Run every ``benchmarks/bench_*.py`` in turn (what ``make bench`` does)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: extra arguments per script (bench_scale: 2 million rows unless BENCH_SCALE=full)
ARGS = {"bench_scale.py": [] if os.environ.get("BENCH_SCALE") == "full" else ["--quick"],
        # SW BCU burglary, res 10, 2 % of the area, every month (issue 17)
        "bench_backtest.py": ["--area", "SW", "--crime", "burglary", "--res", "10"]}


def main() -> int:
    here = Path(__file__).resolve().parent
    failed = []
    for script in sorted(here.glob("bench_*.py")):
        print(f"\n######## {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script), *ARGS.get(script.name, [])],
                          cwd=here.parent).returncode:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
