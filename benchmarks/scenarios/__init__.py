"""What is measured: one module per family of scenarios, each a function of the run's context."""
