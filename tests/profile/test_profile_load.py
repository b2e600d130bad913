"""Loading and validating profiles: what an engineer sees when a profile is wrong."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from profile_texts import MINIMAL, PROFILES, SHA

from station.domain import PLATFORMS, Transport
from station.errors import ProfileError
from station.profile.load import load_profile, validate_profile


def problems(path: Path) -> list[tuple[str, str]]:
    return [(e.field, e.problem) for e in validate_profile(path)]


def test_minimal_profile_gets_documented_defaults(write_profile) -> None:
    path = write_profile(MINIMAL)
    p = load_profile(path)
    assert p.platform is PLATFORMS["boron"]
    assert p.transport is Transport.SWD and p.finish == "halt"
    assert p.flash.verify and p.flash.smart and p.flash.erase == "auto" and not p.flash.allow_recover
    assert p.reprovision == "skip"
    assert p.cloud.particle_product == "1234" and p.cloud.claim_user is None and not p.cloud.import_sims
    assert p.product_firmware.sha256 == SHA[2] and p.test_firmware is None
    assert p.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert p.text == path.read_text()
    assert len(p.tests) == 0 and p.overrides == ()


def test_usb_profile_defaults_to_leaving_the_device_in_dfu(write_profile) -> None:
    p = load_profile(
        write_profile(MINIMAL.replace('platform = "boron"', 'platform = "boron"\ntransport = "usb"'))
    )
    assert p.finish == "dfu"


@pytest.mark.parametrize("name", ["demo-boron.toml", "demo-bsom.toml"])
def test_shipped_demo_profiles_are_valid(name: str) -> None:
    p = load_profile(PROFILES / name)
    assert p.test_firmware is not None
    kinds = {s.kind for s in p.tests}
    assert kinds == {"serial", "identity", "memory", "operator"}
    assert {s.check for s in p.tests if s.kind == "identity"} == {"device-id", "versions", "cellular"}


def test_every_problem_is_reported_with_its_field(write_profile) -> None:
    text = MINIMAL.replace('platform = "boron"', 'platform = "boronn"').replace(
        "version = 6200", 'version = "6200"'
    )
    text += '\n[flash]\nverifyy = false\nerase = "fast"\n'
    found = problems(write_profile(text))
    fields = [f for f, _ in found]
    assert "platform" in fields
    assert "firmware.modules[0].version" in fields
    assert "flash.verifyy" in fields
    assert "flash.erase" in fields
    by_field = dict(found)
    assert "did you mean 'boron'" in by_field["platform"]
    assert "did you mean 'verify'" in by_field["flash.verifyy"]
    assert "expected an integer" in by_field["firmware.modules[0].version"]


def test_load_raises_the_first_problem_with_file_and_field(write_profile) -> None:
    path = write_profile(MINIMAL.replace('product = "Test Product"\n', ""))
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.path == str(path) and info.value.field == "product"
    assert str(info.value) == f"{path}: product: is required"


def test_unknown_top_level_key_names_the_closest(write_profile) -> None:
    assert problems(write_profile("reprovison = 'skip'\n" + MINIMAL)) == [
        ("reprovison", "unknown key (did you mean 'reprovision'?)")
    ]


def test_not_toml_and_missing_file_are_profile_errors(write_profile, tmp_path: Path) -> None:
    assert "not valid TOML" in problems(write_profile("name = \n"))[0][1]
    assert "cannot read" in problems(tmp_path / "nope.toml")[0][1]


def test_bad_hash_and_version_range(write_profile) -> None:
    text = MINIMAL.replace(SHA[1], "abc").replace("version = 6", "version = 70000")
    found = dict(problems(write_profile(text)))
    assert "64 hex characters" in found["firmware.modules[0].sha256"]
    assert "16-bit" in found["firmware.product.version"]


def test_hash_in_upper_case_is_accepted_and_normalised(write_profile) -> None:
    p = load_profile(write_profile(MINIMAL.replace(SHA[1], SHA[1].upper().replace("0", "A", 1))))
    assert p.modules[0].sha256 == SHA[1].replace("0", "a", 1)


def test_duplicate_module_role_is_refused(write_profile) -> None:
    text = MINIMAL.replace(
        "[firmware.product]",
        f'[[firmware.modules]]\nrole = "system-part1"\nsha256 = "{SHA[3]}"\nversion = 6200\n\n[firmware.product]',
    )
    assert any("listed twice" in p for _, p in problems(write_profile(text)))


# ------------------------------------------------------------------ first-connect rule
def test_run_product_finish_is_refused_without_the_override(write_profile) -> None:
    text = MINIMAL + '\n[finish]\naction = "run-product"\n'
    ((field, problem),) = problems(write_profile(text))
    assert field == "finish.action"
    assert "first cloud connection" in problem and "allow-first-connect" in problem


def test_run_product_finish_is_allowed_with_the_named_override(write_profile) -> None:
    text = 'overrides = ["allow-first-connect"]\n' + MINIMAL + '\n[finish]\naction = "run-product"\n'
    p = load_profile(write_profile(text))
    assert p.finish == "run-product" and p.allows_first_connect


def test_unknown_override_is_an_error(write_profile) -> None:
    found = problems(write_profile('overrides = ["allow-first-conect"]\n' + MINIMAL))
    assert found == [
        ("overrides", "unknown override 'allow-first-conect' (did you mean 'allow-first-connect'?)")
    ]


def test_live_tests_without_factory_test_firmware_would_run_the_product(write_profile) -> None:
    text = MINIMAL + '\n[[tests]]\nname = "battery"\nkind = "serial"\ncmd = "battery"\nmin = 3.5\n'
    ((field, problem),) = problems(write_profile(text))
    assert field == "tests" and "battery" in problem and "factory_test" in problem


def test_memory_only_tests_need_no_running_firmware(write_profile) -> None:
    text = MINIMAL + '\n[[tests]]\nname = "ap"\nkind = "memory"\naddress = 0x10001208\nexpect = 0xFFFFFFFF\n'
    assert load_profile(write_profile(text)).tests.steps[0].expect_words == (0xFFFFFFFF,)


def test_halt_is_impossible_over_usb(write_profile) -> None:
    text = (
        MINIMAL.replace('platform = "boron"', 'platform = "boron"\ntransport = "usb"')
        + '\n[finish]\naction = "halt"\n'
    )
    assert problems(write_profile(text))[0][0] == "finish.action"


# ------------------------------------------------------------------ cloud and label
def test_a_cloud_target_is_required(write_profile) -> None:
    text = MINIMAL.replace("particle_product = 1234", "import_sims = true")
    assert problems(write_profile(text)) == [
        ("cloud.particle_product", "name a Particle product (id or slug), a peridio_product_prn, or both")
    ]


def test_peridio_only_profile_and_prn_check(write_profile) -> None:
    ok = MINIMAL.replace("particle_product = 1234", 'peridio_product_prn = "prn:1:abc:product:x"')
    assert load_profile(write_profile(ok)).cloud.particle_product is None
    bad = MINIMAL.replace(
        "particle_product = 1234", 'peridio_product_prn = "x"\nperidio_cohort_prn = "prn:1:c"'
    )
    fields = [f for f, _ in problems(write_profile(bad))]
    assert fields == ["cloud.peridio_product_prn"]


def test_label_placeholder_typo_is_caught(write_profile) -> None:
    text = MINIMAL + '\n[label]\nlines = ["{product}", "{serial}"]\n'
    ((field, problem),) = problems(write_profile(text))
    assert field == "label.lines[1]" and "unknown placeholder {serial}" in problem


def test_label_too_small_for_a_scannable_qr(write_profile) -> None:
    text = MINIMAL + "\n[label]\nwidth_mm = 20\nheight_mm = 6\ndpi = 203\n"
    ((field, problem),) = problems(write_profile(text))
    assert field == "label.height_mm" and "dots per QR module" in problem


# ------------------------------------------------------------------ test steps
def _with_steps(steps: str) -> str:
    return (
        MINIMAL.replace("[cloud]", f'[firmware.factory_test]\nsha256 = "{SHA[3]}"\nversion = 6\n\n[cloud]')
        + steps
    )


def test_step_keys_of_another_kind_are_named(write_profile) -> None:
    text = _with_steps('\n[[tests]]\nname = "led"\nkind = "operator"\nquestion = "Green?"\nmin = 1\n')
    assert problems(write_profile(text)) == [
        ("tests[0].min", "not used by kind 'operator' (only by 'serial')")
    ]


def test_step_validation(write_profile) -> None:
    text = _with_steps(
        '\n[[tests]]\nname = "b"\nkind = "serial"\ncmd = "battery"\nmin = 5\nmax = 3\n'
        '\n[[tests]]\nname = "b"\nkind = "serial"\ncmd = "imei"\nmatch = "(["\n'
        '\n[[tests]]\nname = "m"\nkind = "memory"\naddress = 0x10001209\nmask = 0xFF\nexpect = 0x100\n'
        '\n[[tests]]\nname = "x y"\nkind = "identity"\ncheck = "deviceid"\n'
        '\n[[tests]]\nname = "q"\nkind = "serail"\n'
    )
    found = problems(write_profile(text))
    fields = [f for f, _ in found]
    assert fields == [
        "tests[0].min",
        "tests[1].match",
        "tests[1].name",
        "tests[2].address",
        "tests[2].expect",
        "tests[3].name",
        "tests[3].check",
        "tests[4].kind",
    ]
    assert "did you mean 'device-id'" in dict(found)["tests[3].check"]
    assert "did you mean 'serial'" in dict(found)["tests[4].kind"]


def test_step_defaults(write_profile) -> None:
    text = _with_steps(
        '\n[[tests]]\nname = "led"\nkind = "operator"\nquestion = "Green?"\n'
        '\n[[tests]]\nname = "vin"\nkind = "serial"\ncmd = "vin"\nexpect = 5\n'
    )
    led, vin = load_profile(write_profile(text)).tests.steps
    assert led.required and not led.stop_on_fail and led.retries == 0 and led.timeout_s == 30.0
    assert vin.timeout_s == 5.0 and vin.expect == 5.0


def test_loading_a_profile_does_not_import_the_label_renderer(write_profile) -> None:
    """Headless tools load profiles without ever printing; Pillow and the QR encoder stay unloaded."""
    path = write_profile(MINIMAL + "\n[label]\nformats = [\"png\", \"zpl\"]\n")
    code = (
        "import sys\n"
        "from station.profile.load import load_profile\n"
        f"load_profile({str(path)!r})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('PIL', 'qrcode')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
