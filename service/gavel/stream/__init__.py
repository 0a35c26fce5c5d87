"""Gavel's streaming and stateful stages: NDJSON over HTTP, the Redis Streams worker, author history
and the verdict store. The engine knows nothing of them; they wrap the evaluator from outside."""
