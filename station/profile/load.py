"""Read and validate a product profile (``profiles/*.toml``).

Validation collects every problem (file, dotted field, what was expected) so an engineer fixes a
profile in one pass; :func:`load_profile` raises the first one. The file's SHA-256 is taken over
the exact bytes parsed, so the hash recorded with an attempt identifies what the line ran.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from pathlib import Path
from typing import Any

from station.domain import PLATFORMS, Transport
from station.errors import ProfileError
from station.labels.data import check_template_line
from station.labels.template import LABEL_FORMATS, LabelTemplate, check_template
from station.profile.model import (
    DEVICE_OS_ROLES,
    ERASE_CHOICES,
    FINISH_ACTIONS,
    FIRST_CONNECT_ACTIONS,
    KNOWN_OVERRIDES,
    OVERRIDE_ALLOW_FIRST_CONNECT,
    REPROVISION_CHOICES,
    CloudConfig,
    FlashPolicy,
    ModuleRef,
    Profile,
)
from station.profile.plan import TestPlan
from station.profile.plan_parse import parse_plan
from station.profile.schema import INT_MAX, Section, closest, show_key, text_problem

_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_VERSION_RE = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$")
_DEFAULT_LINES = ("{product}", "{device_id}", "SN {serial_number}")
#: how deep tables and arrays may nest (the deepest a valid profile goes is 4: tests[0].args.key)
MAX_DEPTH = 8
#: names of products, profiles and Particle product slugs (shown on labels and in the registry)
NAME_LIMIT = 100
#: label size in mm: the widest label stock thermal printers take, with room to spare
LABEL_MM_MAX = 300.0


def load_profile(path: str | Path) -> Profile:
    """Parse and validate; raise the first :class:`ProfileError` found."""
    profile, errors = _parse(Path(path))
    if errors:
        raise errors[0]
    assert profile is not None
    return profile


def validate_profile(path: str | Path) -> list[ProfileError]:
    """Every problem in the file (empty when it is valid)."""
    return _parse(Path(path))[1]


def _parse(path: Path) -> tuple[Profile | None, list[ProfileError]]:
    where = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [ProfileError(where, "", f"cannot read the file: {exc.strerror or exc}")]
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        return None, [ProfileError(where, "", f"not UTF-8 text: {exc}")]
    except tomllib.TOMLDecodeError as exc:
        return None, [ProfileError(where, "", f"not valid TOML: {exc}")]
    except RecursionError:
        problem = f"nested too deeply to read (a profile nests tables and arrays at most {MAX_DEPTH} deep)"
        return None, [ProfileError(where, "", problem)]
    errors = _shape_errors(where, data)
    if errors:
        return None, errors
    root = Section(where, "", data, errors)
    profile = _build(root, where, hashlib.sha256(raw).hexdigest(), text)
    return (profile if not errors else None), errors


def _shape_errors(path: str, data: dict[str, Any]) -> list[ProfileError]:
    """What no field of any profile may hold: nesting past MAX_DEPTH, unprintable or overlong keys.

    Walked without recursion, so a hostile file cannot turn its depth into a RecursionError here.
    """
    errors: list[ProfileError] = []
    stack: list[tuple[str, Any, int]] = [("", data, 0)]
    while stack:
        where, value, depth = stack.pop()
        if depth > MAX_DEPTH:
            errors.append(ProfileError(path, where, f"nested more than {MAX_DEPTH} deep"))
            continue
        if isinstance(value, dict):
            for key, item in value.items():
                shown = show_key(key)
                if shown != key:
                    problem = "a key must be printable and at most 64 characters"
                    errors.append(ProfileError(path, f"{where}.{shown}" if where else shown, problem))
                stack.append((f"{where}.{shown}" if where else shown, item, depth + 1))
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", item, depth + 1) for i, item in enumerate(value))
    return errors


def _build(root: Section, path: str, sha256: str, text: str) -> Profile | None:
    name = root.string("name", limit=NAME_LIMIT)
    product = root.string("product", limit=NAME_LIMIT)
    platform_name = root.string("platform", choices=sorted(PLATFORMS))
    transport_name = root.string("transport", "swd", choices=[t.value for t in Transport])
    reprovision = root.string("reprovision", "skip", choices=REPROVISION_CHOICES)
    overrides = root.strings("overrides")
    for item in overrides:
        if item not in KNOWN_OVERRIDES:
            root.error("overrides", f"unknown override {item!r}{closest(item, KNOWN_OVERRIDES)}")

    fw = root.table("firmware", required=True)
    os_version = fw.string("device_os_version")
    if isinstance(os_version, str) and not _VERSION_RE.match(os_version):
        fw.error("device_os_version", f'expected a version like "6.2.0", got {os_version!r}')
    modules = _modules(fw.tables("modules"))
    product_fw = _module(fw.table("product", required=True), "user-product") if fw.has("product") else None
    if not fw.has("product"):
        fw.raw("product")  # records "is required"
    test_fw = _module(fw.table("factory_test"), "user-factory-test") if fw.has("factory_test") else None
    base_image = _base_image(fw.table("base_image")) if fw.has("base_image") else None
    fw.finish(allowed=["factory_test", "base_image"])

    flash = _flash(root.table("flash"))
    transport = Transport(transport_name) if transport_name else Transport.SWD
    finish_sec = root.table("finish")
    lock = finish_sec.boolean("lock_debug_port", False)
    finish = _finish(finish_sec, transport, overrides)
    if lock and transport is Transport.USB:
        finish_sec.error("lock_debug_port", "locking the debug port needs an SWD probe (transport = \"swd\")")
    elif lock and finish != "halt":
        finish_sec.error(
            "lock_debug_port", f'the lock is proven with the core stopped at its reset vector: it needs action = "halt", not {finish!r}'
        )
    label = _label(root.table("label"))
    cloud = _cloud(root.table("cloud", required=True))
    plan = parse_plan(root.tables("tests"))
    _check_first_connect_in_tests(root, plan, test_fw, overrides)
    root.finish()

    if root.errors or None in (name, product, platform_name, os_version, product_fw):
        return None
    assert product_fw is not None
    return Profile(
        path=path,
        sha256=sha256,
        text=text,
        name=name,
        product=product,
        platform=PLATFORMS[platform_name],
        device_os_version=os_version,
        modules=modules,
        product_firmware=product_fw,
        test_firmware=test_fw,
        transport=transport,
        flash=flash,
        reprovision=reprovision,
        tests=plan,
        label=label,
        cloud=cloud,
        overrides=overrides,
        finish=finish,
        base_image=base_image,
        lock_debug_port=bool(lock),
    )


def _module(sec: Section, role: str | None) -> ModuleRef | None:
    """One module reference; ``role`` fixed by the table it sits in, or read from the entry."""
    if role is None:
        role = sec.string("role", choices=DEVICE_OS_ROLES)
    sha = sec.string("sha256")
    version = sec.integer("version", minimum=0)
    if isinstance(version, int) and version > 0xFFFF:
        sec.error("version", f"module versions are 16-bit (0..65535), got {version}")
        version = None
    if isinstance(sha, str):
        if _SHA_RE.match(sha.lower()) is None:
            sec.error(
                "sha256", f"expected 64 hex characters (the SHA-256 of the file in the cache), got {sha!r}"
            )
        sha = sha.lower()
    sec.finish()
    if role is None or not isinstance(sha, str) or not isinstance(version, int):
        return None
    return ModuleRef(role=role, sha256=sha, version=version)


def _base_image(sec: Section) -> str | None:
    """``[firmware.base_image] sha256``: the MBR + UICR image for blank chips (an Intel HEX in the cache)."""
    sha = sec.string("sha256")
    sec.finish()
    if not isinstance(sha, str):
        return None
    if _SHA_RE.match(sha.lower()) is None:
        sec.error("sha256", f"expected 64 hex characters (the SHA-256 of the HEX file in the cache), got {sha!r}")
        return None
    return sha.lower()


def _modules(sections: list[Section]) -> tuple[ModuleRef, ...]:
    refs: list[ModuleRef] = []
    for sec in sections:
        ref = _module(sec, None)
        if ref is None:
            continue
        if any(r.role == ref.role for r in refs):
            sec.error("role", f"{ref.role!r} is listed twice; a module set has one module per role")
        refs.append(ref)
    return tuple(refs)


def _flash(sec: Section) -> FlashPolicy:
    policy = FlashPolicy(
        verify=sec.boolean("verify", True),
        smart=sec.boolean("smart", True),
        erase=sec.string("erase", "auto", choices=ERASE_CHOICES),
        allow_recover=sec.boolean("allow_recover", False),
    )
    sec.finish()
    return policy


def _finish(sec: Section, transport: Transport, overrides: tuple[str, ...]) -> str:
    """What the device is left doing; the first-connect rule is enforced here."""
    default = "halt" if transport is Transport.SWD else "dfu"
    action = sec.string("action", default, choices=FINISH_ACTIONS)
    sec.finish()
    if action in ("halt", "hold-reset") and transport is Transport.USB:
        sec.error("action", f'{action!r} needs an SWD probe; with transport = "usb" use "dfu"')
    if action in FIRST_CONNECT_ACTIONS and OVERRIDE_ALLOW_FIRST_CONNECT not in overrides:
        sec.error(
            "action",
            f"{action!r} lets the product firmware make its first cloud connection at the factory "
            f'(billing starts there); add overrides = ["{OVERRIDE_ALLOW_FIRST_CONNECT}"] if that is intended',
        )
    return str(action)


def _check_first_connect_in_tests(
    root: Section, plan: TestPlan, test_fw: ModuleRef | None, overrides: tuple[str, ...]
) -> None:
    """Steps that talk to running firmware would run the *product* firmware when no test firmware is given."""
    if test_fw is not None or OVERRIDE_ALLOW_FIRST_CONNECT in overrides:
        return
    live = [s.name for s in plan if s.kind != "memory"]
    if live:
        root.error(
            "tests",
            f"steps {', '.join(live)} need running firmware, and without [firmware.factory_test] that is the "
            f"product firmware, which would make its first cloud connection; add a factory-test module or "
            f'overrides = ["{OVERRIDE_ALLOW_FIRST_CONNECT}"]',
        )


def _label(sec: Section) -> LabelTemplate:
    width = sec.number("width_mm", 50.0, positive=True, maximum=LABEL_MM_MAX)
    height = sec.number("height_mm", 25.0, positive=True, maximum=LABEL_MM_MAX)
    dpi = sec.integer("dpi", 300, minimum=100, maximum=1200)
    lines = sec.strings("lines", _DEFAULT_LINES, count=12)
    for i, line in enumerate(lines):
        problem = check_template_line(line)
        if problem:
            sec.error(f"lines[{i}]", problem)
    formats = sec.strings("formats", ("png",))
    for fmt in formats:
        if fmt not in LABEL_FORMATS:
            sec.error("formats", f"unknown format {fmt!r}; expected some of {', '.join(LABEL_FORMATS)}")
    if not formats:
        sec.error("formats", f"name at least one of {', '.join(LABEL_FORMATS)}")
    sec.finish()
    template = LabelTemplate(float(width or 50.0), float(height or 25.0), int(dpi or 300), lines, formats)
    problem = check_template(template)
    if problem:
        sec.error("height_mm", problem)
    return template


def _cloud(sec: Section) -> CloudConfig:
    product: Any = sec.raw("particle_product", None)
    if isinstance(product, int) and not isinstance(product, bool):
        if not 1 <= product <= INT_MAX:
            sec.error("particle_product", f"a Particle product ID is 1..{INT_MAX}, got {product}")
            product = None
        else:
            product = str(product)
    elif product is not None and not (isinstance(product, str) and product.strip()):
        sec.error("particle_product", "expected a product ID (number) or slug (string)")
        product = None
    elif isinstance(product, str) and (problem := text_problem(product, NAME_LIMIT)):
        sec.error("particle_product", problem)
        product = None
    peridio = sec.string("peridio_product_prn", None)
    cohort = sec.string("peridio_cohort_prn", None)
    for key, prn in (("peridio_product_prn", peridio), ("peridio_cohort_prn", cohort)):
        if isinstance(prn, str) and not prn.startswith("prn:"):
            sec.error(key, f'expected a Peridio PRN ("prn:1:..."), got {prn!r}')
    if cohort and not peridio:
        sec.error("peridio_cohort_prn", "a cohort needs peridio_product_prn too")
    if product is None and peridio is None:
        sec.error("particle_product", "name a Particle product (id or slug), a peridio_product_prn, or both")
    cfg = CloudConfig(
        particle_product=product,
        particle_groups=sec.strings("particle_groups"),
        import_sims=bool(sec.boolean("import_sims", False)),
        claim_user=sec.string("claim_user", None),
        peridio_product_prn=peridio,
        peridio_cohort_prn=cohort,
        peridio_tags=sec.strings("peridio_tags"),
    )
    sec.finish()
    return cfg
