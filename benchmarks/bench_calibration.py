"""``python -m benchmarks.bench_calibration``: runs :mod:`coreset_cli.bench.calibration`
(calibrated vs plain weights across C values and class weights).

The code lives in the installed package so that it works from a wheel; importing this module
gives that module itself.
"""

import sys

from coreset_cli.bench import calibration

if __name__ == "__main__":
    calibration.main()
else:
    sys.modules[__name__] = calibration
