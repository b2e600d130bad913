"""hw layer."""
