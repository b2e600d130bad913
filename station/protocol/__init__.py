"""Wire protocols of Particle devices, as facts taken from Particle's public sources.

Both the station's clients (``station.hw``) and the twin's device faces (``station.sim``) speak
these protocols, each implementing its own side; the definitions live here, below both, so
neither learns the protocol from the other. Real clients (particle-usb, dfu-util) judge both.
"""
