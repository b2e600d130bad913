"""The digital twin of Gen3 (nRF52840) Particle devices.

One :class:`~station.sim.device.Twin` is one device, persisted in a folder of a bench directory so
several processes (the station, pyocd's CLI, a test) see the same device. It has three faces:
SWD (``station.sim.probe``, a pyocd probe plugin), USB (``station.sim.usb_backend``, a pyusb backend)
and serial (``station.sim.serial_pty``, a pseudo-terminal). Production code never imports this
package except where a backend is chosen (``station.hw.backend``).
"""
