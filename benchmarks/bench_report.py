"""``python -m benchmarks.bench_report``: runs :mod:`coreset_cli.bench.report`.

The code lives in the installed package so that ``coreset-engine bench`` works from a wheel;
importing this module gives that module itself (private names included).
"""

import sys

from coreset_cli.bench import report

if __name__ == "__main__":
    report.main()
else:
    sys.modules[__name__] = report
