"""``python -m benchmarks.bench_regression``: runs :mod:`coreset_cli.bench.regression`.

The code lives in the installed package; importing this module gives that module itself.
"""

import sys

from coreset_cli.bench import regression

if __name__ == "__main__":
    regression.main()
else:
    sys.modules[__name__] = regression
