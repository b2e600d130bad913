"""What a product profile says, as frozen data the pipeline can trust.

A profile is the one thing an engineer hands the line; the pipeline records its SHA-256 with every
attempt, so these objects are immutable and carry the exact text they were parsed from.
Parsing and validation live in :mod:`station.profile.load`.
"""

from __future__ import annotations

from dataclasses import dataclass

from station.domain import ModuleFunction, Platform, Transport
from station.labels.template import LabelTemplate
from station.profile.plan import TestPlan

#: Module roles a profile may name, with the (function, index) Device OS reports for them.
#: "softdevice" is the nRF52840 radio stack (function 8); user parts are index 2 on Gen3 since the
#: 256 KB slot (device-os ``user_build.mk`` MODULE_INDEX=2); a 128 KB compat user part is index 1.
MODULE_ROLES: dict[str, tuple[ModuleFunction, int]] = {
    "bootloader": (ModuleFunction.BOOTLOADER, 0),
    "softdevice": (ModuleFunction.RADIO_STACK, 0),
    "ncp": (ModuleFunction.NCP, 0),
    "system-part1": (ModuleFunction.SYSTEM_PART, 1),
    "system-part2": (ModuleFunction.SYSTEM_PART, 2),
    "system-part3": (ModuleFunction.SYSTEM_PART, 3),
    "user-product": (ModuleFunction.USER_PART, 2),
    "user-factory-test": (ModuleFunction.USER_PART, 2),
}
DEVICE_OS_ROLES = ("bootloader", "softdevice", "ncp", "system-part1", "system-part2", "system-part3")

ERASE_CHOICES = ("auto", "sector", "chip")
REPROVISION_CHOICES = ("skip", "reprovision")

#: What the device is left doing when the station is done with it.
FINISH_ACTIONS = ("halt", "hold-reset", "dfu", "run-product")
#: Finish actions that would let the product firmware run and make its first cloud connection.
FIRST_CONNECT_ACTIONS = ("run-product",)
#: Named overrides a profile may set; each is recorded on every run that used it.
OVERRIDE_ALLOW_FIRST_CONNECT = "allow-first-connect"
KNOWN_OVERRIDES = (OVERRIDE_ALLOW_FIRST_CONNECT,)


@dataclass(frozen=True)
class ModuleRef:
    """A module by the SHA-256 of its file in the firmware cache, and the version it must report."""

    role: str  # bootloader|softdevice|system-part1|...|user-product|user-factory-test
    sha256: str
    version: int

    @property
    def function(self) -> ModuleFunction:
        return MODULE_ROLES[self.role][0]

    @property
    def index(self) -> int:
        return MODULE_ROLES[self.role][1]


@dataclass(frozen=True)
class FlashPolicy:
    verify: bool = True
    smart: bool = True
    erase: str = "auto"  # auto|sector|chip (station.hw.interfaces.EraseStrategy values)
    allow_recover: bool = False  # may a locked chip be mass-erased to clear APPROTECT


@dataclass(frozen=True)
class CloudConfig:
    particle_product: str | None  # product id (digits) or slug
    particle_groups: tuple[str, ...]
    import_sims: bool
    claim_user: str | None  # never claim unless named explicitly
    peridio_product_prn: str | None
    peridio_cohort_prn: str | None
    peridio_tags: tuple[str, ...]


@dataclass(frozen=True)
class Profile:
    path: str
    sha256: str  # hash of the file as used (recorded per attempt)
    text: str
    name: str
    product: str
    platform: Platform
    device_os_version: str  # what the device must report, e.g. "6.2.0"
    modules: tuple[ModuleRef, ...]  # Device OS modules; flash order is decided by check_module_set
    product_firmware: ModuleRef
    test_firmware: ModuleRef | None
    transport: Transport
    flash: FlashPolicy
    reprovision: str  # skip|reprovision
    tests: TestPlan
    label: LabelTemplate
    cloud: CloudConfig
    overrides: tuple[str, ...]
    finish: str = "halt"  # halt|hold-reset|dfu|run-product
    #: SHA-256 of an Intel HEX in the cache carrying the MBR page and UICR words a blank nRF52840
    #: needs before Particle's modules can boot ([firmware.base_image]; station.firmware.base_image)
    base_image: str | None = None
    #: [finish] lock_debug_port: UICR.APPROTECT = Enabled as the last step on the device, proven after a reset
    lock_debug_port: bool = False

    @property
    def all_modules(self) -> tuple[ModuleRef, ...]:
        """Every module the profile references: Device OS, product, and factory test if any."""
        extra = (self.test_firmware,) if self.test_firmware else ()
        return (*self.modules, self.product_firmware, *extra)

    @property
    def allows_first_connect(self) -> bool:
        return OVERRIDE_ALLOW_FIRST_CONNECT in self.overrides

    def expected_user_part(self, *, during_tests: bool) -> ModuleRef:
        """The user part the device should be running: the factory-test one while testing, if any."""
        if during_tests and self.test_firmware is not None:
            return self.test_firmware
        return self.product_firmware
