"""L3 editors: an LLM rewrites only what deterministic repairs could not fix, and guards judge every edit."""
