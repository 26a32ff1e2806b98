"""Streaming generation after LLaMo: a causal motion VAE, a flow-matching head and
Mixture-of-Transformers weights, so motion latents can be generated one at a time."""
