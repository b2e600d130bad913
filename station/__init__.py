"""station: a factory provisioning station for Particle-style device fleets.

The package is layered and every import points down; the order is written once, as ``LAYERS`` in
``tests/test_architecture.py`` (errors, domain, firmware/store, sim, hw, labels, profile, ftest,
pipeline/cloud/export, app, cli/ui), which fails on an upward import or a package cycle.
Nothing outside ``station.ui`` imports PySide6, and only ``station.hw.backend`` chooses the twin.
"""

__version__ = "0.1.0"
