"""Policy engine: schema, loader, normalizer, matchers, compiler and evaluator."""
