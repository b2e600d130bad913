"""SWD through pyocd: the station's one implementation of :class:`~station.hw.interfaces.SwdLink`.

Split by concern, each module small enough to read against the source it follows:

* :mod:`.session` — pyocd import, the options every session opens with (and why), the open lock,
  error translation, probe listing;
* :mod:`.recovery` — nRF52 readback protection: ``is_locked`` and the CTRL-AP mass erase (pyocd's
  ``NRF52`` target methods);
* :mod:`.erase_plan` — Gen3 erase planning: chip or sector erase, from coverage and page CRCs;
* :mod:`.preserve` — the MBR page and UICR a chip erase would destroy, kept and restored;
* :mod:`.verify` — on-target page CRCs and read-back;
* :mod:`.algo` — pyocd's flash algorithm kept loaded across calls while provably still there;
* :mod:`.pacing` — waits for the algorithm spaced by its known duration, not polled flat out;
* :mod:`.transient` — a transient SWD fault retried within a budget;
* :mod:`.presence` — is a target behind the probe at all (a line reset and DPIDR, no session);
* :mod:`.remote` — pyocd's remote probe with replies that end when its server dies or goes silent;
* :mod:`.link` — :class:`PyocdSwdLink`, one slot's session, composing the above.
"""

from station.hw.swd.link import PyocdSwdLink
from station.hw.swd.session import DEFAULT_FREQUENCY, list_probes

__all__ = ["DEFAULT_FREQUENCY", "PyocdSwdLink", "list_probes"]
