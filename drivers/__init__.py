"""labctl drivers package."""
