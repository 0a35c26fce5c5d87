"""HTTP API: FastAPI app factory, routes, request models, limits and error mapping."""
