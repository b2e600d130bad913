"""SWD through pyocd: the station's one implementation of :class:`~station.hw.interfaces.SwdLink`.

Split by concern, each module small enough to read against the source it follows:

* :mod:`.session` — pyocd import, the options every session opens with (and why), the open lock,
  error translation, probe listing;
* :mod:`.recovery` — nRF52 readback protection: ``is_locked`` and the CTRL-AP mass erase (pyocd's
  ``NRF52`` target methods);
* :mod:`.erase_plan` — Gen3 erase planning: chip or sector erase, from coverage and page CRCs;
* :mod:`.preserve` — the MBR page and UICR a chip erase would destroy, kept and restored;
* :mod:`.verify` — on-target page CRCs and read-back;
* :mod:`.link` — :class:`PyocdSwdLink`, one slot's session, composing the above.
"""

from station.hw.swd.link import PyocdSwdLink
from station.hw.swd.session import DEFAULT_FREQUENCY, list_probes

__all__ = ["DEFAULT_FREQUENCY", "PyocdSwdLink", "list_probes"]
