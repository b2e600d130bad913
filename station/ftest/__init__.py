"""ftest layer."""
