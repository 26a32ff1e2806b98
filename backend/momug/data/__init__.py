"""Training and evaluation data: loaders and the procedural text-motion corpus."""
