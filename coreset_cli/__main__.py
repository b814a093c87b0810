"""``python -m coreset_cli``: the ``coreset-engine`` command."""

from . import main

if __name__ == "__main__":
    main(prog_name="coreset-engine")
