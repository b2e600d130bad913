"""firmware layer."""
