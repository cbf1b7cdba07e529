"""``python -m benchmarks run [--quick] [--json FILE]``."""

from benchmarks.cli import main

if __name__ == "__main__":
    main()
