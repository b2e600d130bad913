"""The QSPI NOR flash of a Gen3 board: data array, OTP security registers, and the DCT file it holds.

What Device OS keeps there, and how a twin models it (device-os v6.2.0 sources):

* **OTP security registers.** The serial number (15 ASCII chars at OTP 0), the device secret
  (15 chars at OTP 0x10), hardware data (0x20) and model (0x24) are read with
  ``hal_exflash_read_special(HAL_EXFLASH_SPECIAL_SECTOR_OTP, …)`` (``hal/src/nRF52840/deviceid_hal.cpp``).
  The MX25-class chips enter a separate secured-OTP mode for that (``mx25_enter_secure_otp``), so
  ordinary addressing — a DFU alt 2 write, an erase of the whole data array — never reaches it.
  Sizes from ``exflash_hal_params.h``: 512 B on the MX25L3233F (4 MB parts), 1 KB on the
  MX25R6435F (8 MB parts). The twin keeps it in its own file, ``otp.bin``.
* **The DCT** is not raw flash on Gen3: it is the file ``/sys/dct.bin`` in the LittleFS filesystem
  that occupies the first half of the QSPI flash (``services/inc/dct_file.h``;
  ``hal/src/nRF52840/littlefs/filesystem_impl.h``: first block 0, 4 KB blocks, block count =
  sectors / 2). Its contents are ``application_dct_t`` (``platform/MCU/nRF52840/inc/dct.h``, 8391
  bytes, created filled with 0xFF). The EC device key that Device OS and particle-cli use on Gen3
  is ``alt_device_private_key``: 192 bytes at offset 3106. DFU alt 1 ("@DCT Flash") is a window
  onto that *file* through ``dct_read_app_data_copy``/``dct_write_app_data``
  (``bootloader/src/nRF52840/usbd_dfu_mal.cpp``): a write changes exactly the bytes written,
  and the DfuSe erase of that alt does nothing (``DctMal::erase`` returns 0).

What is simplified: the filesystem's on-flash encoding (LittleFS v1.7, on-disk version 1.1, the
``particle`` branch Device OS builds) is not reproduced. The twin keeps the DCT file's contents
in ``dct.bin`` and treats the blocks the filesystem occupies (:data:`FS_USED_BLOCKS`: the
superblock/root pair, the ``/sys`` pair and the three data blocks 8391 bytes need) as one unit:
when they differ from what was last mounted, the next mount (at boot, or any DCT access) fails,
Device OS formats the filesystem and recreates an empty DCT, and the key is gone. Raw writes
elsewhere (free filesystem blocks, the OTA and factory regions) leave the DCT alone, and so does
erasing a block and writing its old bytes back before anything mounts.
"""

from __future__ import annotations

from station.domain import Platform

SECTOR = 0x1000

#: ``application_dct_t`` (device-os ``platform/MCU/nRF52840/inc/dct.h``, STATIC_ASSERT_DCT_OFFSET)
DCT_FILE_SIZE = 8391
DCT_ALT_DEVICE_PUBLIC_KEY_OFFSET = 2978
DCT_ALT_DEVICE_PUBLIC_KEY_SIZE = 128
DCT_ALT_DEVICE_PRIVATE_KEY_OFFSET = 3106
DCT_ALT_DEVICE_PRIVATE_KEY_SIZE = 192
DCT_DEVICE_ID_OFFSET = 3618
DCT_DEVICE_SECRET_OFFSET = 8119
DCT_SETUP_DONE_OFFSET = 8134
#: what DFU alt 1 exposes: ``@DCT Flash   /0x00000000/1*016Ke``
DCT_WINDOW = 0x4000

#: OTP layout (device-os ``hal/src/nRF52840/deviceid_hal.cpp``)
OTP_SERIAL_NUMBER = 0x00
OTP_DEVICE_SECRET = 0x10
OTP_HW_DATA = 0x20
OTP_HW_MODEL = 0x24
SERIAL_NUMBER_SIZE = 15
DEVICE_SECRET_SIZE = 15

#: blocks of a freshly formatted filesystem holding /sys/dct.bin (see the module docstring)
FS_USED_BLOCKS = 7


def otp_size(platform: Platform) -> int:
    """Secured OTP of the board's QSPI chip: MX25R6435F (8 MB) 1 KB, MX25L3233F (4 MB) 512 B."""
    return 1024 if platform.ext_flash_sectors * SECTOR >= 8 * 1024 * 1024 else 512


def filesystem_size(platform: Platform) -> int:
    """Bytes of the LittleFS region (``FILESYSTEM_BLOCK_COUNT = sFLASH_PAGECOUNT / 2``, from block 0)."""
    return platform.ext_flash_sectors // 2 * SECTOR


def fs_used_span() -> tuple[int, int]:
    """External-flash byte range whose change corrupts the filesystem (and so loses the DCT)."""
    return 0, FS_USED_BLOCKS * SECTOR


def new_dct(private_key: bytes, public_key: bytes, device_id: bytes) -> bytes:
    """A DCT file as a device leaves Particle's line: 0xFF, then the keys and the device ID."""
    if len(private_key) != DCT_ALT_DEVICE_PRIVATE_KEY_SIZE or len(public_key) != DCT_ALT_DEVICE_PUBLIC_KEY_SIZE:
        raise ValueError("DCT key slots are 192 (private) and 128 (public) bytes")
    dct = bytearray(b"\xff" * DCT_FILE_SIZE)
    dct[DCT_ALT_DEVICE_PRIVATE_KEY_OFFSET : DCT_ALT_DEVICE_PRIVATE_KEY_OFFSET + len(private_key)] = private_key
    dct[DCT_ALT_DEVICE_PUBLIC_KEY_OFFSET : DCT_ALT_DEVICE_PUBLIC_KEY_OFFSET + len(public_key)] = public_key
    dct[DCT_DEVICE_ID_OFFSET : DCT_DEVICE_ID_OFFSET + len(device_id)] = device_id
    return bytes(dct)


def ec_key_slot(der_body: bytes) -> bytes:
    """An EC private key as it sits in its 192-byte slot: DER, then 0xFF padding.

    A P-256 ``ECPrivateKey`` in DER is 121 bytes (SEQUENCE, 0x77 long). The twin's bytes are random
    (only their identity matters to the tests), wrapped in that framing so a dump looks the part.
    """
    body = b"\x30\x77" + der_body[:119].ljust(119, b"\x00")
    return body.ljust(DCT_ALT_DEVICE_PRIVATE_KEY_SIZE, b"\xff")


def key_of(dct: bytes) -> bytes:
    """The EC device key slot of a DCT file's contents (0xFF beyond the file's end)."""
    lo = DCT_ALT_DEVICE_PRIVATE_KEY_OFFSET
    return bytes(dct[lo : lo + DCT_ALT_DEVICE_PRIVATE_KEY_SIZE]).ljust(DCT_ALT_DEVICE_PRIVATE_KEY_SIZE, b"\xff")


def dct_written(dct: bytes, offset: int, data: bytes) -> bytes:
    """The file after ``lfs_file_seek(offset)`` + ``lfs_file_write(data)``: a hole past the end reads 0."""
    buf = bytearray(dct)
    if offset > len(buf):
        buf += bytes(offset - len(buf))
    buf[offset : offset + len(data)] = data
    return bytes(buf)
