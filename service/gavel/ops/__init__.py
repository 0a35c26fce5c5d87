"""Operating Gavel: live policy reload, structured logs, settings documentation."""
