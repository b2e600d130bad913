"""labels layer."""
