"""Toxicity and embedding model backends, and the micro-batcher in front of them."""
