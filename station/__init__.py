"""station: a factory provisioning station for Particle-style device fleets.

The package is layered; each layer imports only the ones below it:
domain/errors -> firmware, profile -> store, hw, sim, cloud, ftest -> pipeline -> cli, ui.
Nothing outside ``station.ui`` imports PySide6.
"""

__version__ = "0.1.0"
