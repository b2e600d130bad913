"""Profile editing through the application layer: the loader's problems at their lines, the folder
setting, and a save that needs the role, a reason and a valid text."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from station.app import SessionSettings, StationSession, profile_edit
from station.errors import ConfigError

DEMO = Path(__file__).resolve().parents[2] / "station" / "profile" / "demo_profiles" / "demo-boron.toml"


def test_problems_point_at_their_lines() -> None:
    text = DEMO.read_text()
    lines = text.splitlines()
    bad = text.replace("version = 202", 'version = "x"').replace("max = 4.3", 'max = "hi"')
    problems = profile_edit.check_text(bad, Path("/nowhere/p.toml"))
    assert [(p.field, p.line) for p in problems] == [
        ("firmware.modules[1].version", lines.index("version = 202") + 1),
        ("tests[1].max", lines.index("max = 4.3") + 1)]
    [syntax] = profile_edit.check_text(text.replace("[flash]", "[flash"), Path("/nowhere/p.toml"))
    assert syntax.line == lines.index("[flash]") + 1 and "not valid TOML" in syntax.problem
    # a field the text does not have points at the nearest table it would belong in
    assert profile_edit.field_line(text, "label.margin_mm") == lines.index("[label]") + 1
    assert profile_edit.field_line(text, "nothing.here") is None


def test_the_folder_setting_wins_over_the_profiles_own_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATION_PROFILES_DIR", raising=False)
    assert profile_edit.folder(None, tmp_path / "a" / "p.toml") == tmp_path / "a"
    monkeypatch.setenv("STATION_PROFILES_DIR", str(tmp_path / "line"))
    assert profile_edit.folder(None, tmp_path / "a" / "p.toml") == tmp_path / "line"


def test_a_save_needs_the_role_a_reason_and_a_valid_text(tmp_path: Path) -> None:
    target = tmp_path / "p.toml"
    shutil.copy(DEMO, target)
    s = StationSession(SessionSettings(db_url=f"sqlite:///{tmp_path / 'reg.db'}", station_name="st",
                                       cache_dir=tmp_path / "no-cache", create_registry=True))
    try:
        text = DEMO.read_text().replace('product = "Demo Boron"', 'product = "Demo Boron v2"')
        with pytest.raises(PermissionError, match="needs an engineer"):
            profile_edit.save(s, target, text, reason="x", operator="olga", role="operator")
        with pytest.raises(ConfigError, match="say why"):
            profile_edit.save(s, target, text, reason="  ", operator="eve", role="engineer")
        with pytest.raises(profile_edit.ProfileRejected) as rejected:
            profile_edit.save(s, target, text.replace("dpi = 300", "dpi = 3"), reason="r", operator="eve",
                              role="engineer")
        assert rejected.value.problems[0].field == "label.dpi"
        assert target.read_text() == DEMO.read_text()
        saved = profile_edit.save(s, target, text, reason="renamed product", operator="eve", role="engineer")
        assert target.read_text() == text and not list(tmp_path.glob(".*.tmp")) and not list(tmp_path.glob(".check-*"))
        rows = s.registry.audit_page(action="edit-profile").rows
        assert [(r.operator, r.granted, r.reason) for r in rows] == [
            ("eve", True, "renamed product"), ("olga", False, rows[1].reason)]
        assert rows[0].details["sha256"] == saved.sha256
    finally:
        s.registry.close()
