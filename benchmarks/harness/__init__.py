"""What the scenarios share: the run's context, server processes, load generators, raw clients,
the wire, and the statistics."""
