"""The systems chat is measured against: the seed's stack, the bare websockets ceiling, a
per-commit SQLite server, and a minimal send script; each started as a process of its own."""
