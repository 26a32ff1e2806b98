"""Training: configuration, the loop (single process or Accelerate multi-process) and loss plots."""
