"""``python -m onepixel.study COMMAND``: the study's command-line tools.

python -m onepixel.study cost results     # job time per stage of a study
python -m onepixel.study check FILE...    # check config files, merged in order
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m onepixel.study", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    cost = sub.add_parser("cost", help="job time per stage, variant and D from results/benchmarks/")
    cost.add_argument("results", help="the study's results folder (its benchmarks/ holds the job records)")
    check = sub.add_parser("check", help="check config files, merged in the given order (as Snakemake does)")
    check.add_argument("files", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "check":
        from onepixel.study.config import main as check_configs

        return check_configs(args.files)
    from onepixel.study.cost import cost_table, stage_costs

    benchmarks = Path(args.results) / "benchmarks"
    if not benchmarks.is_dir():
        print(f"error: {benchmarks} does not exist. Fix: name a study's results folder", file=sys.stderr)
        return 1
    print(f"job time per stage from {benchmarks} (Snakemake benchmark files: wall seconds per job)")
    print(cost_table(stage_costs(args.results)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
