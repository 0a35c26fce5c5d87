"""Identities and roles: per-person API keys (stored hashed) with viewer, reviewer or admin rights."""
