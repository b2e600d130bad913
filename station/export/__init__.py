"""Lot manifests (txt, csv, json, Peridio csv) written atomically with a sha256 beside them."""
