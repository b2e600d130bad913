"""The window's Station menu: settings, users and PINs, profiles — the dialogs an engineer or admin opens.

Kept out of :mod:`station.ui.window` (which lays out the board): the window makes one
:class:`StationMenus` and the menu does the rest. What a role may do is the core's decision
(:func:`station.roles.may`, the settings rows' ``changed_by``); an entry the role may not use stays
in the menu with a lock and, when chosen, says why (and the window audits the refusal), as the
locked buttons on the board do: a disabled entry could not explain itself to a touch screen.
The menu refreshes its locks each time it opens, so it always reflects who is logged in now.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMenu

from station.app import history, people, profile_edit, settings_edit
from station.roles import Action, required_role
from station.ui.gate import why_locked
from station.ui.profilesdialog import ProfileJobs, ProfilesDialog
from station.ui.settingsdialog import SettingsDialog
from station.ui.usersdialog import UsersDialog


class StationMenus(QObject):
    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.settings_dialog: SettingsDialog | None = None
        self.menu: QMenu = window.menuBar().addMenu("&Station")
        self.menu.aboutToShow.connect(self.refresh)
        self.settings_action = QAction("&Settings…", self)
        self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.settings_action.triggered.connect(self.open_settings)
        self.menu.addAction(self.settings_action)
        window.addAction(self.settings_action)  # the shortcut works with the menu closed
        self.users_action = QAction("&Users and PINs…", self)
        self.users_action.triggered.connect(self.open_users)
        self.menu.addAction(self.users_action)
        self.users_dialog: UsersDialog | None = None
        self.profiles_action = QAction("&Profiles…", self)
        self.profiles_action.setShortcut(QKeySequence("Ctrl+P"))
        self.profiles_action.triggered.connect(self.open_profiles)
        self.menu.addAction(self.profiles_action)
        window.addAction(self.profiles_action)
        self.profiles_dialog: ProfilesDialog | None = None
        self.label_dialog: Any = None  # the reprint's LabelDialog (station.ui.labelprint, imported when used)
        self.refresh()

    def refresh(self) -> None:
        """Locks follow who is logged in now."""
        self._lock(self.users_action, "&Users and PINs…", Action.MANAGE_USERS)
        allowed = self.window.may(Action.EDIT_PROFILE)
        self.profiles_action.setText("&Profiles…" if allowed else "&Profiles… (read only: engineers edit)")

    def _lock(self, action: QAction, text: str, needs: Action) -> None:
        allowed = self.window.may(needs)
        # words, not a padlock glyph (no emoji font on many station PCs)
        action.setText(text if allowed else f"{text} (locked: {required_role(needs).value} only)")
        action.setToolTip("" if allowed else why_locked(self.window.role, needs))
        action.setStatusTip(action.toolTip())

    def _who(self) -> str:
        w = self.window
        if w.role is None:
            return "nobody logged in: every setting is locked"
        return f"{w.operator} · {w.role}"

    # ------------------------------------------------------------------ settings
    def open_settings(self) -> SettingsDialog | None:
        w = self.window
        if w.session is None:
            w.say("The station is still opening", error=True)
            return None
        if self.settings_dialog is not None and self.settings_dialog.isVisible():
            self.settings_dialog.raise_()
            return self.settings_dialog
        dialog = SettingsDialog(self._settings_rows, self._settings_save, w.workers, who=self._who(), scale=w.scale,
                                parent=w)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(self._settings_closed)
        dialog.saved.connect(self._setting_saved)
        self.settings_dialog = dialog
        dialog.show()
        return dialog

    def _settings_rows(self) -> Any:
        session, role = self.window.session, self.window.role
        return lambda: settings_edit.rows(session, role)

    def _settings_save(self, name: str, text: str) -> Any:
        session, role, operator = self.window.session, self.window.role, self.window.operator
        return lambda: settings_edit.save(session, name, text, operator=operator, role=role)

    def _settings_closed(self, _: int) -> None:
        self.settings_dialog = None

    def _setting_saved(self, saved: Any) -> None:
        self.window.say(f"Setting {saved.name} saved in {saved.file}: used from the station's next start")

    # ------------------------------------------------------------------ users and PINs
    def open_users(self) -> UsersDialog | None:
        w = self.window
        if w.session is None:
            w.say("The station is still opening", error=True)
            return None
        if not w.may(Action.MANAGE_USERS):
            w.refuse(Action.MANAGE_USERS)  # explains, and audits the refusal
            return None
        if self.users_dialog is not None and self.users_dialog.isVisible():
            self.users_dialog.raise_()
            return self.users_dialog
        dialog = UsersDialog(self._users_load, self._users_add, self._users_change, w.workers, who=self._who(),
                             scale=w.scale, parent=w)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(self._users_closed)
        self.users_dialog = dialog
        w.scanner.enabled = False  # a badge scanned into its field is a badge, not a device label
        dialog.show()
        return dialog

    def _users_load(self) -> Any:
        session, role = self.window.session, self.window.role
        return lambda: people.users(session, role=role)

    def _users_add(self, name: str, role: str, pin: str, badge: str | None) -> Any:
        session, by, by_role = self.window.session, self.window.operator, self.window.role
        return lambda: people.add_user(session, name, role, pin, badge=badge, by=by, by_role=by_role)

    def _users_change(self, name: str, **changes: Any) -> Any:
        session, by, by_role = self.window.session, self.window.operator, self.window.role
        return lambda: people.change_user(session, name, by=by, by_role=by_role, **changes)

    def _users_closed(self, _: int) -> None:
        self.users_dialog = None
        w = self.window
        w.scanner.enabled = True
        if w.open_station:
            session = w.session
            w.workers.submit(lambda: people.open_station(session), self._users_exist)

    def _users_exist(self, still_open: Any, error: BaseException | None) -> None:
        """The first user was added: the open-station rule has ended, so whoever is here logs in."""
        w = self.window
        if error is not None or still_open or not w.open_station:
            return
        w.open_station = False
        w.set_user(None, None)
        w.say("This station has users now: log in with your badge or PIN")
        w.open_login()

    # ------------------------------------------------------------------ profiles
    def open_profiles(self) -> None:
        """Anyone may read the profiles; choosing and editing are an engineer's (locked, explained).

        The folder comes from the settings (the station file) in a worker; the dialog opens when it is known.
        """
        w = self.window
        if w.session is None:
            w.say("The station is still opening", error=True)
            return
        if self.profiles_dialog is not None and self.profiles_dialog.isVisible():
            self.profiles_dialog.raise_()
            return
        session = w.session
        chosen = w.job.profile.path if w.job is not None else w.profile_path
        current = Path(chosen) if chosen else None
        w.workers.submit(lambda: profile_edit.folder(session, current),
                         lambda where, error: self._show_profiles(where, error, current))

    def _show_profiles(self, where: Any, error: BaseException | None, current: Any) -> None:
        w = self.window
        if error is not None:
            w.say(f"Cannot find the profiles folder: {error}", error=True)
            return
        if self.profiles_dialog is not None:
            return
        session = w.session
        jobs = ProfileJobs(list_folder=lambda folder: lambda: profile_edit.list_profiles(folder),
                           read=lambda path: lambda: path.read_text(encoding="utf-8"),
                           check=lambda path, text: lambda: profile_edit.check_text(text, path, session.cache),
                           save=self._profile_save, allowed=lambda: profile_edit.refusal(w.role))
        dialog = ProfilesDialog(jobs, w.workers, where=where, current=current, who=self._who(), scale=w.scale,
                                parent=w)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(self._profiles_closed)
        dialog.useProfile.connect(w.use_profile)
        self.profiles_dialog = dialog
        dialog.show()

    def _profile_save(self, path: Any, text: str, reason: str) -> Any:
        session, role, operator = self.window.session, self.window.role, self.window.operator
        return lambda: profile_edit.save(session, path, text, reason=reason, operator=operator, role=role)

    def _profiles_closed(self, _: int) -> None:
        self.profiles_dialog = None

    # ------------------------------------------------------------------ a reprint from a record
    def print_label(self, device_id: str) -> None:
        """The record's Print label…: preview, print or save as PDF; each label that leaves is recorded."""
        w = self.window
        if w.session is None:
            return
        if not w.may(Action.PRINT_LABEL):
            w.refuse(Action.PRINT_LABEL)
            return
        if w.job is None:
            w.say("Choose a profile first: the label's template comes from it", error=True)
            return
        session, profile = w.session, w.job.profile
        w.workers.submit(lambda: history.label_for(session, device_id, profile),
                         lambda made, error: self._show_label(device_id, made, error))

    def _show_label(self, device_id: str, made: Any, error: BaseException | None) -> None:
        w = self.window
        if error is not None:
            w.say(f"No label: {error}", error=True)
            return
        from station.ui.labelprint import LabelDialog

        info, template = made
        dialog = LabelDialog(info, template, w.workers, parent=w)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.setProperty("device_id", device_id)
        dialog.produced.connect(self._label_produced)
        dialog.finished.connect(self._label_closed)
        self.label_dialog = dialog
        dialog.show()

    def _label_closed(self, _: int) -> None:
        self.label_dialog = None

    def _label_produced(self, where: str, fmt: str) -> None:
        w = self.window
        dialog = self.sender()
        device_id = str(dialog.property("device_id")) if dialog is not None else ""
        session, operator = w.session, w.operator
        profile = w.job.profile.name if w.job is not None else None

        def done(_: Any, error: BaseException | None) -> None:
            w.say(f"Could not record the reprint: {error}" if error else f"Label of {device_id} reprinted ({fmt})",
                  error=error is not None)

        w.workers.submit(lambda: history.record_reprint(session, device_id, where=where, fmt=fmt, operator=operator,
                                                        profile=profile), done)
