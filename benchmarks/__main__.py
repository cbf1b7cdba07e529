"""``python -m benchmarks run [--quick] [--json FILE]``, ``python -m benchmarks soak``,
``python -m benchmarks writer``."""

from benchmarks.cli import main

if __name__ == "__main__":
    main()
