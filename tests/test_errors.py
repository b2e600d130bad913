"""The one error tree: what each family means to a caller, and the fields errors carry."""

from __future__ import annotations

import pytest

from station import errors
from station.domain import gen3_ficr_words, normalize_device_id


def test_a_mistyped_device_id_is_an_input_error_with_the_text() -> None:
    with pytest.raises(errors.InvalidDeviceId) as info:
        normalize_device_id(" e00fce68zz ")
    assert isinstance(info.value, errors.InputError)
    assert isinstance(info.value, ValueError)  # code validating text catches it like any bad value
    assert info.value.text == " e00fce68zz "
    assert str(info.value) == "not a device ID (24 hex characters expected): ' e00fce68zz '"


def test_a_non_gen3_id_is_refused_as_input() -> None:
    with pytest.raises(errors.InvalidDeviceId, match="not a Gen3 device ID"):
        gen3_ficr_words("0123456789abcdef01234567")


@pytest.mark.parametrize(
    ("cls", "family"),
    [
        (errors.TestsFailed, errors.DeviceError),
        (errors.TransferFault, errors.TransportError),
        (errors.VerifyError, errors.DeviceError),
        (errors.RegistryUnavailable, errors.StationFault),
        (errors.CloudUnavailable, errors.StationFault),
        (errors.CloudRejected, errors.StationFault),
        (errors.CloudAuthError, errors.InputError),
        (errors.AlreadyDone, errors.ControlFlow),
        (errors.StepFailed, errors.ControlFlow),
        (errors.Cancelled, errors.ControlFlow),
    ],
)
def test_each_error_sits_in_the_family_that_decides_its_handling(cls: type, family: type) -> None:
    assert issubclass(cls, family) and issubclass(cls, errors.StationError)


def test_families_do_not_overlap() -> None:
    """A front end picks exit code and colour by family; one error must not be two of them."""
    families = (errors.InputError, errors.DeviceError, errors.StationFault, errors.ControlFlow)
    tree = [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, errors.StationError)]
    for cls in tree:
        assert sum(issubclass(cls, f) for f in families) <= 1, cls


def test_fields_ride_along_and_the_message_stays_the_raisers() -> None:
    v = errors.VerifyError("verify failed at 0x00001000", address=0x1000, expected=b"\x01", actual=b"\x00")
    assert (v.address, v.expected, v.actual) == (0x1000, b"\x01", b"\x00")
    assert str(v) == "verify failed at 0x00001000"
    f = errors.TransferFault("reading: SWD transfer fault", address=0x30000000)
    assert f.address == 0x30000000 and str(f) == "reading: SWD transfer fault"
    cause = errors.DeviceGone("unplugged")
    s = errors.StepFailed("flash", cause)
    assert s.step == "flash" and s.cause is cause and str(s) == "flash: unplugged"
