"""USB descriptors of a twin, in the two shapes a host sees: DFU mode and normal (CDC) mode.

They are kept as plain values (one dataclass per descriptor type, plus their wire bytes) because
pyusb reads them two ways: field by field through the backend's ``get_*_descriptor`` calls, and
as raw bytes through ``GET_DESCRIPTOR`` control requests (``usb.util.get_string`` does that).
Both views must agree, so both are produced here from one description.

Facts (particle.md §2–3): VID 0x2B04, PID 0xC000|platform (normal) / 0xD000|platform (DFU),
iSerial = device ID; DfuSe interface class 0xFE/1/2 with alt settings 0–2 whose strings describe
the memory layout; DFU functional descriptor bmAttributes 0x0B, wTransferSize 4096.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from station.domain import PARTICLE_VID, Platform

DFU_TRANSFER_SIZE = 4096
DFU_ATTRIBUTES = 0x0B  # bitCanDnload | bitCanUpload | bitWillDetach
DFU_DETACH_TIMEOUT_MS = 255
DFUSE_VERSION = 0x011A

STR_MANUFACTURER = 1
STR_PRODUCT = 2
STR_SERIAL = 3
STR_ALT_BASE = 4  # alt setting n is described by string STR_ALT_BASE + n

#: USBD_PRODUCT_NAME of each platform: device-os v5.9.0 ``bootloader/src/nRF52840/usbd_device.cpp``
#: (DFU mode, "<name> DFU Mode") and ``hal/src/<platform>/app_usbd_string_config.h`` (normal
#: mode, "<name> CDC Mode")
PRODUCT_NAMES = {
    "argon": "Argon", "boron": "Boron", "esomx": "E-SoM-X", "bsom": "B-SoM", "b5som": "B5-SoM", "tracker": "Tracker",
}  # fmt: skip

INTERNAL_FLASH_LAYOUT = "@Internal Flash   /0x00000000/1*004Ka,47*004Kg,192*004Kg,4*004Kg,4*004Kg,8*004Ka"
DCT_LAYOUT = "@DCT Flash   /0x00000000/1*016Ke"
EXT_FLASH_BASE = 0x80000000


def alt_strings(platform: Platform) -> list[str]:
    """The three DfuSe alt-setting strings exactly as Device OS names them for this platform."""
    return [
        INTERNAL_FLASH_LAYOUT,
        DCT_LAYOUT,
        f"@External Flash   /0x{EXT_FLASH_BASE:08X}/{platform.ext_flash_sectors}*004Kg",
    ]


@dataclass(frozen=True)
class DeviceDescriptor:
    idVendor: int
    idProduct: int
    bus: int
    address: int
    bLength: int = 18
    bDescriptorType: int = 1
    bcdUSB: int = 0x0200
    bDeviceClass: int = 0
    bDeviceSubClass: int = 0
    bDeviceProtocol: int = 0
    bMaxPacketSize0: int = 64
    bcdDevice: int = 0x0251
    iManufacturer: int = STR_MANUFACTURER
    iProduct: int = STR_PRODUCT
    iSerialNumber: int = STR_SERIAL
    bNumConfigurations: int = 1
    port_number: int | None = None
    port_numbers: tuple[int, ...] | None = None
    speed: int = 2  # LIBUSB_SPEED_FULL

    def to_bytes(self) -> bytes:
        return struct.pack(
            "<BBHBBBBHHHBBBB",
            self.bLength, self.bDescriptorType, self.bcdUSB, self.bDeviceClass, self.bDeviceSubClass,
            self.bDeviceProtocol, self.bMaxPacketSize0, self.idVendor, self.idProduct, self.bcdDevice,
            self.iManufacturer, self.iProduct, self.iSerialNumber, self.bNumConfigurations,
        )  # fmt: skip


@dataclass(frozen=True)
class EndpointDescriptor:
    bEndpointAddress: int
    bmAttributes: int
    wMaxPacketSize: int = 64
    bInterval: int = 0
    bLength: int = 7
    bDescriptorType: int = 5
    bRefresh: int = 0
    bSynchAddress: int = 0
    extra_descriptors: bytes = b""

    def to_bytes(self) -> bytes:
        return struct.pack(
            "<BBBBHB", self.bLength, self.bDescriptorType, self.bEndpointAddress, self.bmAttributes,
            self.wMaxPacketSize, self.bInterval,
        ) + self.extra_descriptors  # fmt: skip


@dataclass(frozen=True)
class InterfaceDescriptor:
    bInterfaceNumber: int
    bAlternateSetting: int
    bInterfaceClass: int
    bInterfaceSubClass: int
    bInterfaceProtocol: int
    iInterface: int = 0
    endpoints: tuple[EndpointDescriptor, ...] = ()
    extra_descriptors: bytes = b""
    bLength: int = 9
    bDescriptorType: int = 4

    @property
    def bNumEndpoints(self) -> int:
        return len(self.endpoints)

    def to_bytes(self) -> bytes:
        head = struct.pack(
            "<BBBBBBBBB", self.bLength, self.bDescriptorType, self.bInterfaceNumber, self.bAlternateSetting,
            self.bNumEndpoints, self.bInterfaceClass, self.bInterfaceSubClass, self.bInterfaceProtocol,
            self.iInterface,
        )  # fmt: skip
        return head + self.extra_descriptors + b"".join(e.to_bytes() for e in self.endpoints)


@dataclass(frozen=True)
class ConfigurationDescriptor:
    #: interfaces[i] = the alternate settings of interface i, in order
    interfaces: tuple[tuple[InterfaceDescriptor, ...], ...]
    bConfigurationValue: int = 1
    iConfiguration: int = 0
    bmAttributes: int = 0x80
    bMaxPower: int = 250  # 500 mA
    bLength: int = 9
    bDescriptorType: int = 2
    extra_descriptors: bytes = b""

    @property
    def bNumInterfaces(self) -> int:
        return len(self.interfaces)

    @property
    def wTotalLength(self) -> int:
        return len(self.to_bytes())

    def to_bytes(self) -> bytes:
        body = b"".join(alt.to_bytes() for alts in self.interfaces for alt in alts)
        head = struct.pack(
            "<BBHBBBB", self.bLength, self.bDescriptorType, 9 + len(body), len(self.interfaces),
            self.bConfigurationValue, self.iConfiguration, self.bmAttributes,
        ) + bytes([self.bMaxPower])  # fmt: skip
        return head + body


@dataclass(frozen=True)
class UsbFace:
    """Everything a host can learn from a twin's descriptors in one mode."""

    mode: str  # "normal" | "dfu"
    device: DeviceDescriptor
    config: ConfigurationDescriptor
    strings: dict[int, str] = field(default_factory=dict)

    def string_descriptor(self, index: int) -> bytes:
        """String descriptor ``index`` as sent on the wire (index 0 = the LANGID list, en-US)."""
        if index == 0:
            return bytes([4, 3]) + struct.pack("<H", 0x0409)
        text = self.strings[index].encode("utf-16-le")
        return bytes([2 + len(text), 3]) + text


def dfu_functional_descriptor() -> bytes:
    return struct.pack("<BBBHHH", 9, 0x21, DFU_ATTRIBUTES, DFU_DETACH_TIMEOUT_MS, DFU_TRANSFER_SIZE, DFUSE_VERSION)


def build_face(
    mode: str, platform: Platform, device_id: str, *, bus: int, address: int, product_name: str | None = None
) -> UsbFace:
    """Descriptors of a twin of ``platform`` enumerating in ``mode``."""
    name = product_name or PRODUCT_NAMES.get(platform.name, platform.name.capitalize())
    strings = {STR_MANUFACTURER: "Particle", STR_SERIAL: device_id}
    if mode == "dfu":
        strings[STR_PRODUCT] = f"{name} DFU Mode"
        alts = []
        for n, text in enumerate(alt_strings(platform)):
            strings[STR_ALT_BASE + n] = text
            alts.append(
                InterfaceDescriptor(
                    0, n, 0xFE, 0x01, 0x02, iInterface=STR_ALT_BASE + n, extra_descriptors=dfu_functional_descriptor()
                )
            )
        config = ConfigurationDescriptor(interfaces=(tuple(alts),))
        pid = platform.pid_dfu
    else:
        strings[STR_PRODUCT] = f"{name} CDC Mode"
        # CDC ACM: communication interface (notification EP) + data interface (bulk pair),
        # then the vendor interface that carries Particle control requests on EP0.
        cdc_header = bytes([5, 0x24, 0x00, 0x10, 0x01])
        cdc_acm = bytes([4, 0x24, 0x02, 0x02])
        cdc_union = bytes([5, 0x24, 0x06, 0x00, 0x01])
        comm = InterfaceDescriptor(
            0, 0, 0x02, 0x02, 0x01,
            endpoints=(EndpointDescriptor(0x82, 0x03, 8, 0xFF),),
            extra_descriptors=cdc_header + cdc_acm + cdc_union,
        )  # fmt: skip
        data = InterfaceDescriptor(
            1, 0, 0x0A, 0x00, 0x00, endpoints=(EndpointDescriptor(0x81, 0x02), EndpointDescriptor(0x01, 0x02))
        )
        vendor = InterfaceDescriptor(2, 0, 0xFF, 0xFF, 0xFF)
        config = ConfigurationDescriptor(interfaces=((comm,), (data,), (vendor,)))
        pid = platform.pid_normal
    device = DeviceDescriptor(idVendor=PARTICLE_VID, idProduct=pid, bus=bus, address=address)
    return UsbFace(mode=mode, device=device, config=config, strings=strings)
