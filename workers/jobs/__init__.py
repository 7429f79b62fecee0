"""The job runner: leases, heartbeats, progress, checkpoints and publishing around the training code."""
