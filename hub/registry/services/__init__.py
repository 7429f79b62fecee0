"""Functions that write to the registry. Views of every protocol, tasks and commands call these."""
