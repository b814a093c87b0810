"""``python -m benchmarks.bench_cleaning``: runs :mod:`coreset_cli.bench.cleaning`.

The code lives in the installed package so that it works from a wheel; importing this module
gives that module itself (private names included).
"""

import sys

from coreset_cli.bench import cleaning

if __name__ == "__main__":
    cleaning.main()
else:
    sys.modules[__name__] = cleaning
