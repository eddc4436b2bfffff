"""labctl gui package."""
