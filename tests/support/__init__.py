"""The test suite's shared support: server subprocesses (``servers``) and raw clients (``raw``)."""
