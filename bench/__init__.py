"""Benchmarks: `make bench`. Every figure is printed with a ratio to a floor measured in the
same run, on the same machine — never compared with a number from somewhere else."""
