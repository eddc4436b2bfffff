"""labctl procedures package."""
