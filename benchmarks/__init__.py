"""Benchmarks of chat against the seed's stack and the bare websockets ceiling."""
