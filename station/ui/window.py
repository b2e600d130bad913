"""The station's main window: top bar, slot board, lot, history, cloud queue and log.

The window presents and routes; it never waits. Everything that touches a device, the registry,
a file or the network runs in the session's slot threads or in :class:`~station.ui.workers.Workers`
jobs, and comes back as queued signals: core events through the :class:`~station.ui.bridge.EventBridge`
(connected to methods of this window), job results through ``(result, error)`` callbacks.

Closing the window while slots run asks first, then cancels every slot (each stops at its next
step boundary and records ``cancelled``), waits for all of them, and only then closes: nothing is
left half-recorded.
"""

from __future__ import annotations

import getpass
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt, QThreadPool, QTimer, Slot
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from station.app import history, people
from station.errors import ConfigError
from station.labels.scan import Scan
from station.roles import PRIVILEGED, Action, may
from station.ui import theme
from station.ui.board import SlotBoard
from station.ui.bridge import BridgeLogHandler, EventBridge
from station.ui.cardmodel import CardState, PromptView, step_title
from station.ui.cloudpanel import CloudPanel
from station.ui.exportdialog import ExportDialog
from station.ui.gate import GatedButton, why_locked
from station.ui.historypanel import HistoryPanel, HistoryQuery
from station.ui.login import LoginDialog
from station.ui.logmodel import LogLine, event_line
from station.ui.logpane import LogPane
from station.ui.lotpanel import LotFigures, LotPanel
from station.ui.record import RecordDialog
from station.ui.scanner import ScanDetector
from station.ui.workers import Workers

if TYPE_CHECKING:
    from station.ui.demo import DemoControls

LOG = logging.getLogger(__name__)

SessionFactory = Callable[[Any], Any]  # (event sink) -> session

#: How often step bars may move (seconds): 20 Hz reads as smooth and leaves the loop free.
PROGRESS_INTERVAL_S = 0.05


class MainWindow(QMainWindow):
    def __init__(self, open_session: SessionFactory, *, profile: Path | None = None, lot: str | None = None,
                 operator: str | None = None, auto_start: bool = True, scale: float | None = None,
                 export_dir: Path | None = None, demo: Any = None) -> None:
        super().__init__()
        self.t_created = time.monotonic()
        self.scale = theme.ui_scale() if scale is None else scale
        self.open_session = open_session
        self.profile_path = profile
        self.lot_name = lot
        self.operator: str | None = operator or getpass.getuser()
        # Who may do what is decided once the registry says whether it has users: until then,
        # nobody may do anything (fail closed). See _opened.
        self.role: str | None = None
        self.open_station = False
        self.login_dialog: LoginDialog | None = None
        self.explanation: QMessageBox | None = None
        self.export_dir = export_dir or Path.home()
        self.session: Any = None
        self.job: Any = None
        self.ready = False  # the session is open and the slots are on the board
        #: the slots whose worker died while pre-starting, once the pre-start is over (None before)
        self.prestarted: list[str] | None = None
        self.shift = {"passed": 0, "failed": 0, "errors": 0}
        self.records: list[RecordDialog] = []
        self._closing = False
        self.specs: dict[str, Any] = {}

        self.setWindowTitle("Station")
        # The window's own pool, not Qt's global one (as many threads as cores: two on a small
        # station PC): a registry query stuck on a slow network must not leave no thread to open
        # the session, log in or write an audit row.
        pool = QThreadPool(self)
        pool.setMaxThreadCount(6)
        self.workers = Workers(pool=pool, parent=self)
        self.bridge = EventBridge(self)
        self.bridge.coreEvent.connect(self.on_core_event, Qt.ConnectionType.QueuedConnection)
        self.bridge.progressReady.connect(self.on_progress, Qt.ConnectionType.QueuedConnection)
        self._progress_at = 0.0
        self._progress_timer = QTimer(self)
        self._progress_timer.setSingleShot(True)
        self._progress_timer.timeout.connect(self.on_progress)
        self.bridge.logReady.connect(self.on_logs, Qt.ConnectionType.QueuedConnection)
        self.log_handler = BridgeLogHandler(self.bridge)
        logging.getLogger("station").addHandler(self.log_handler)

        from station.ui.topbar import TopBar

        self.topbar = TopBar(self.scale)
        self.board = SlotBoard()
        self.board.startRequested.connect(self.start_slot)
        self.board.stopRequested.connect(self.stop_slot)
        self.board.retryRequested.connect(self.start_slot)
        self.board.recordRequested.connect(self.open_slot_record)
        self.board.answered.connect(self.answer_prompt)
        self.board.recoverRequested.connect(self.recover_slot)
        self.board.recoverRefused.connect(self._recover_refused)
        self.recover_dialog: QInputDialog | None = None
        self.profile_dialog: QFileDialog | None = None
        self.start_all_button = QPushButton("Start all")
        self.start_all_button.setObjectName("primary")
        self.start_all_button.clicked.connect(self.start_all)
        self.stop_all_button = QPushButton("Stop all")
        self.stop_all_button.clicked.connect(self.stop_all)
        self.auto_start = QCheckBox("Start when a board appears")
        self.auto_start.setChecked(auto_start)
        self.auto_start.toggled.connect(self._auto_start_toggled)
        self.profile_button = GatedButton("Profile…")
        self.profile_button.setAccessibleName("choose the product profile")
        self.profile_button.activated.connect(self.choose_profile)
        self.profile_button.refused.connect(self._profile_refused)
        actions = QHBoxLayout()
        actions.addWidget(self.start_all_button)
        actions.addWidget(self.stop_all_button)
        actions.addWidget(self.auto_start)
        actions.addWidget(self.profile_button)
        actions.addStretch(1)
        self.demo_controls: DemoControls | None = None
        if demo is not None:
            from station.ui.demo import DemoControls

            self.demo_controls = DemoControls(demo, self.workers)
            actions.addWidget(self.demo_controls)
        board_page = QWidget()
        bl = QVBoxLayout(board_page)
        bl.setContentsMargins(4, 4, 4, 4)
        bl.addLayout(actions)
        bl.addWidget(self.board, 1)

        self.lot_panel = LotPanel(self.scale)
        self.lot_panel.refresh_button.clicked.connect(self.refresh_lot)
        self.lot_panel.export_button.clicked.connect(self.open_export)
        self.history = HistoryPanel(self._history_page, self.workers)
        self.history.openRecord.connect(self.open_record)
        self.cloud_panel = CloudPanel(self._cloud_page, self.workers, self.scale)
        self.cloud_panel.syncRequested.connect(self.sync_now)
        self.cloud_panel.retryRequested.connect(self.retry_parked)
        self.cloud_panel.retry_button.refused.connect(self._retry_refused)
        self.log_pane = LogPane()

        self.tabs = QTabWidget()
        self.tabs.addTab(board_page, "Slots")
        self.tabs.addTab(self.lot_panel, "Lot")
        self.tabs.addTab(self.history, "History")
        self.tabs.addTab(self.cloud_panel, "Cloud queue")
        self.tabs.addTab(self.log_pane, "Log")
        for i in range(self.tabs.count()):
            QShortcut(QKeySequence(f"Ctrl+{i + 1}"), self, self._tab_shortcut(i))
        self.tabs.currentChanged.connect(self._tab_changed)
        central = QWidget()
        cl = QVBoxLayout(central)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.topbar)
        cl.addWidget(self.tabs, 1)
        self.setCentralWidget(central)
        self.message = QLabel("Opening the station…")
        self.message.setFont(theme.sans(theme.px(15, self.scale), bold=True))
        self.statusBar().addWidget(self.message, 1)
        from station.ui.menus import StationMenus

        self.menus = StationMenus(self)  # settings, users and PINs, profiles (station/ui/menus.py)
        self.topbar.set_operator(None, None)
        self.topbar.loginRequested.connect(self.open_login)
        self.topbar.logoutRequested.connect(self.logout)
        self.topbar.set_shift(0, 0)

        self.scanner = ScanDetector(self)
        self.scanner.scanned.connect(self.on_scan)
        self.scanner.unrecognised.connect(self.on_unrecognised_scan)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self.scanner)

        self.second = QTimer(self)
        self.second.setInterval(1000)
        self.second.timeout.connect(self.board.tick)
        self.second.start()
        self.slow = QTimer(self)
        self.slow.setInterval(10_000)
        self.slow.timeout.connect(self.refresh_status)
        self.slow.start()
        self.workers.submit(self._open, self._opened)

    # ------------------------------------------------------------------ opening
    def _open(self) -> tuple[Any, list[Any], Any, bool]:
        session = self.open_session(self.bridge)
        slots = session.slots()
        open_station = people.open_station(session)
        job = None
        if self.profile_path is not None:
            job = session.prepare(self.profile_path, lot=self.lot_name,
                                  operator=(self.operator if open_station else None) or "(nobody)")
        return session, slots, job, open_station

    def _opened(self, result: Any, error: BaseException | None) -> None:
        if error is not None:
            self.say(f"Cannot open the station: {error}", error=True)
            LOG.error("cannot open the station: %s", error)
            return
        self.session, slots, self.job, self.open_station = result
        self.specs = {s.name: s for s in slots}
        self.board.set_slots([(s.name, self.slot_title(s.name), s.transport.value) for s in slots])
        for s in slots:
            self.log_pane.add_slot(s.name, self.slot_title(s.name))
        mode = self.session.mode
        self.topbar.mode.set((f"Line · {len(slots)} SWD slots" if mode == "line" else "Bench · USB"),
                             f"station {self.session.station}")
        self.auto_start.setText("Start when a board appears" if mode == "line" else "Start when a device is plugged in")
        if self.job is not None:
            self.topbar.profile.set(self.job.profile.name, str(self.job.profile.path))
            self.topbar.lot.set(self.job.lot_name)
            self.history.set_titles(self.job.profile.tests.titles())
            self.lot_name = self.job.lot_name
        else:
            self.topbar.profile.set("none chosen")
        self.ready = True
        LOG.info("window ready %.2f s after it was created", time.monotonic() - self.t_created)
        if self.open_station:
            # No users in the registry: whoever is at the station acts as admin (store/users.py).
            self.set_user(self.operator, "admin")
            self.say("Ready" + ("" if self.job is not None else ": choose a profile to start"))
        else:
            self.set_user(None, None)
            self.say("Log in with your badge or PIN to start")
            self.open_login()
        self.refresh_status()
        self.history.requery()
        self._prestart()
        if self.demo_controls is not None:
            self.demo_controls.refresh()  # the session opener has just made an SWD demo's twins

    def _prestart(self) -> None:
        """Start the slots' worker processes now, in a session worker (they take seconds and the GIL
        of nobody here): when the session's run puts its slots in workers (slot_workers = "process", or
        the default "auto" over two or more slots), Start then spawns nothing (issue 12/16)."""
        if self.session is None or self.job is None:
            return
        session = self.session

        def done(dead: Any, error: BaseException | None) -> None:
            self.prestarted = list(dead or [])
            if error is not None:
                LOG.error("cannot pre-start the slot workers: %s", error)
            elif dead:
                LOG.error("slot workers died while starting: %s (their first device tries again)", ", ".join(dead))

        self.workers.submit(session.prestart, done)

    def slot_title(self, name: str) -> str:
        """Fixture slots by their name; a bench device by the end of its ID (its card shows all of it)."""
        return f"Slot {name}" if len(name) <= 4 else f"…{name[-6:]}"

    # ------------------------------------------------------------------ core events (GUI thread)
    @Slot(object)
    def on_core_event(self, ev: Any) -> None:
        kind = str(ev.kind)
        slot = str(ev.slot)
        data = ev.data or {}
        if kind in ("slot_starting", "device_arrived"):
            new = self.board.add_slot(slot, self.slot_title(slot), str(data.get("transport", "")))
            self.log_pane.add_slot(slot, self.slot_title(slot))
            if kind == "slot_starting":
                new.view.begin()
                new.refresh()
        elif kind == "device_left":
            card = self.board.card(slot)
            if card is not None and self.session is not None and self.session.mode == "bench" \
                    and card.view.state is CardState.WAITING:
                self.board.remove_slot(slot)
        elif kind == "prompt":
            self.board.show_prompt(slot, PromptView(str(data["prompt_id"]), ev.message,
                                                    tuple(data.get("choices") or ("yes", "no")),
                                                    float(data.get("timeout_s") or 0.0)))
        elif kind == "prompt_closed":
            self.board.close_prompt(slot, str(data.get("prompt_id")))
        elif kind == "slot_result":
            card = self.board.card(slot)
            if card is not None:
                card.view.serial_number = data.get("serial_number") or card.view.serial_number
                card.view.attempt_id = data.get("attempt_id") or card.view.attempt_id
                card.refresh()
            self._count(ev.outcome, bool(data.get("station_fault")))
        else:
            self.board.apply(ev)
        line = event_line(ev)
        if line is not None:
            self.log_pane.append([line])

    @Slot()
    def on_progress(self) -> None:
        # Step bars move at most 20 times a second: what arrives in between is coalesced by the
        # bridge (newest per slot) and taken at the next turn.
        wait = PROGRESS_INTERVAL_S - (time.monotonic() - self._progress_at)
        if wait > 0:
            if not self._progress_timer.isActive():
                self._progress_timer.start(max(1, int(wait * 1000)))
            return
        self._progress_at = time.monotonic()
        for ev in self.bridge.take_progress():
            card = self.board.card(str(ev.slot))
            if card is not None:
                card.view.apply(ev)
                card.show_progress()

    @Slot()
    def on_logs(self) -> None:
        lines = []
        for r in self.bridge.take_logs():
            thread = r.threadName or ""
            slot = thread.removeprefix("slot-") if thread.startswith("slot-") else ""
            lines.append(LogLine(r.created, slot, r.levelno, r.getMessage()))
        self.log_pane.append(lines)

    def _count(self, outcome: str | None, station_fault: bool) -> None:
        if outcome == "passed":
            self.shift["passed"] += 1
        elif station_fault or outcome == "error":
            self.shift["errors"] += 1
        elif outcome == "failed":
            self.shift["failed"] += 1
        self.topbar.set_shift(self.shift["passed"], self.shift["failed"], self.shift["errors"])
        self.refresh_lot()

    # ------------------------------------------------------------------ slot actions
    def _spec(self, slot: str) -> Any:
        """The slot's spec from the session (station.toml order and probes); a bench device is its ID."""
        from station.domain import Transport
        from station.pipeline.line import SlotSpec

        if slot in self.specs:
            return self.specs[slot]
        card = self.board.card(slot)
        transport = Transport(card.view.transport) if card is not None and card.view.transport else Transport.USB
        return SlotSpec(slot, transport, slot)

    def start_slot(self, slot: str) -> None:
        if not self._can_run():
            return
        self.session.start_slot(self._spec(slot))

    def stop_slot(self, slot: str) -> None:
        if self.session is not None:
            self.session.cancel(slot)
            self.say(f"Stopping {self.slot_title(slot)} at the end of its current step")

    def start_all(self) -> None:
        if not self._can_run():
            return
        for slot, card in self.board.cards.items():
            if card.view.state is not CardState.RUNNING:
                self.session.start_slot(self._spec(slot))

    def stop_all(self) -> None:
        if self.session is not None:
            self.session.cancel_all()
            self.say("Stopping every slot at the end of its current step")

    def _can_run(self) -> bool:
        if self.session is None:
            self.say("The station is still opening", error=True)
            return False
        if not self.may(Action.RUN_LOT):
            self.refuse(Action.RUN_LOT)
            return False
        if self.job is None:
            self.say("Choose a profile first", error=True)
            return False
        return True

    def answer_prompt(self, slot: str, prompt_id: str, choice: str) -> None:
        if not self.may(Action.ANSWER_PROMPT):
            self.refuse(Action.ANSWER_PROMPT)
            return
        if self.session is not None and not self.session.answer(prompt_id, choice, by=self.operator):
            self.say(f"{self.slot_title(slot)}: that question is already closed")

    def _auto_start_toggled(self, on: bool) -> None:
        self._update_watching()

    def _update_watching(self) -> None:
        """Auto-start only while someone who may run the lot is logged in."""
        if self.session is None:
            return
        if self.auto_start.isChecked() and self.job is not None and self.may(Action.RUN_LOT):
            self.session.watch()
        else:
            self.session.stop_watching()

    # ------------------------------------------------------------------ who is at the station
    def may(self, action: Action) -> bool:
        """The core's role check (station.roles.may); nobody logged in may nothing."""
        return self.role is not None and may(self.role, action)

    def set_user(self, name: str | None, role: str | None) -> None:
        """Who is at the station now: the top bar, the job's operator, every locked control."""
        self.operator, self.role = name, role
        shown = role + (" (open station)" if self.open_station and role else "") if role else None
        self.topbar.set_operator(name, shown)
        if self.job is not None and name is not None:
            self.job.operator = name  # the next attempts are recorded under who is logged in
        retry, recover, profile = Action.RETRY_PARKED, Action.RECOVER_LOCKED, Action.EDIT_PROFILE
        self.cloud_panel.retry_button.set_allowed(self.may(retry), why_locked(role, retry))
        self.board.set_recover_allowed(self.may(recover), why_locked(role, recover))
        self.profile_button.set_allowed(self.may(profile), why_locked(role, profile))
        self._update_watching()

    def open_login(self) -> LoginDialog | None:
        if self.session is None:
            self.say("The station is still opening", error=True)
            return None
        if self.open_station:
            self.say("This station has no users yet: everyone acts as admin (add users under Station ▸ Users and PINs)")
            return None
        if self.login_dialog is not None and self.login_dialog.isVisible():
            self.login_dialog.raise_()
            return self.login_dialog
        session = self.session
        dialog = LoginDialog(lambda who, pin: people.login(session, who, pin), self.workers, scale=self.scale,
                             parent=self)
        dialog.loggedIn.connect(self._logged_in)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(self._login_closed)
        self.login_dialog = dialog
        self.scanner.enabled = False  # a badge is not a device label: the dialog's field takes the scan
        dialog.open()
        return dialog

    def _login_closed(self, _: int) -> None:
        self.login_dialog = None
        self.scanner.enabled = True

    def _logged_in(self, user: Any) -> None:
        before = self.role
        name, role = str(user.name), str(user.role)
        if before is not None and before != role:
            self._audit("role-changed", granted=True, operator=name, role=role,
                        details={"from": before, "to": role, "previous_user": self.operator})
        self.set_user(name, role)
        self.say(f"{name} logged in as {role}")

    def logout(self) -> None:
        if self.operator is None or self.open_station:
            return
        self._audit("logout", granted=True)
        name = self.operator
        self.set_user(None, None)
        self.say(f"{name} logged out: log in with your badge or PIN to go on")

    def refuse(self, action: Action) -> None:
        """Say why the role may not, and (for a privileged action) record that it was asked."""
        why = why_locked(self.role, action)
        if action in PRIVILEGED:
            self._audit(action.value, granted=False, reason=why)
        if self.role is None:
            self.say(why, error=True)
            self.open_login()
        else:
            self.explain(why)

    def _retry_refused(self, _why: str) -> None:
        self.refuse(Action.RETRY_PARKED)

    def _recover_refused(self, slot: str) -> None:
        self.refuse(Action.RECOVER_LOCKED)

    def _profile_refused(self, _why: str) -> None:
        self.refuse(Action.EDIT_PROFILE)

    # ------------------------------------------------------------------ engineer's actions
    def recover_slot(self, slot: str) -> QInputDialog | None:
        """Erase a locked chip and run the slot again: an engineer's override, with a reason."""
        if not self.may(Action.RECOVER_LOCKED):  # the button was locked; check again all the same
            self.refuse(Action.RECOVER_LOCKED)
            return None
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Recover the locked chip")
        dialog.setLabelText(f"{self.slot_title(slot)}: recovering erases the whole chip (its protection, firmware "
                            "and keys) and then provisions it again.\nWhy? (recorded in the audit log)")
        dialog.setProperty("slot", slot)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.textValueSelected.connect(self._recover_reason)
        dialog.finished.connect(self._recover_dialog_closed)
        self.recover_dialog = dialog
        dialog.open()
        return dialog

    def _recover_dialog_closed(self, _: int) -> None:
        self.recover_dialog = None

    def _recover_reason(self, reason: str) -> None:
        dialog = self.sender()
        slot = str(dialog.property("slot")) if dialog is not None else ""
        reason = reason.strip()
        if not reason:
            self.say("Not recovered: an override needs a reason", error=True)
            return
        if not self._can_run() or not self.may(Action.RECOVER_LOCKED):
            return
        card = self.board.card(slot)
        device = card.view.device_id if card is not None else None
        self._audit(Action.RECOVER_LOCKED.value, granted=True, reason=reason, device_id=device,
                    details={"slot": slot})
        self.session.start_slot(self._spec(slot), recover_confirmed_by=self.operator)
        self.say(f"{self.slot_title(slot)}: recovering the chip (confirmed by {self.operator})")

    def choose_profile(self) -> None:
        """The profiles dialog (station/ui/profilesdialog.py): the folder's profiles with what the
        loader says of each, read, edit with a check, and Use this profile."""
        if not self.may(Action.EDIT_PROFILE):
            self.refuse(Action.EDIT_PROFILE)
            return
        self.menus.open_profiles()

    def use_profile(self, path: str) -> None:
        """Load and check a profile and its firmware in a worker; the board switches when it is ready."""
        if self.session is None or not self.may(Action.EDIT_PROFILE):
            self.refuse(Action.EDIT_PROFILE)
            return
        if self.session.active():
            self.say("Finish or stop the running slots before changing the profile", error=True)
            return
        session, chosen, operator = self.session, Path(path), self.operator or "(nobody)"
        self.say(f"Loading profile {chosen.name}…")
        self._audit(Action.EDIT_PROFILE.value, granted=True, details={"profile": str(chosen)})

        def done(job: Any, error: BaseException | None) -> None:
            if error is not None:
                self.say(f"Profile not loaded: {error}", error=True)
                return
            self.job, self.profile_path = job, chosen
            self.history.set_titles(job.profile.tests.titles())
            self.topbar.profile.set(job.profile.name, str(job.profile.path))
            self.topbar.lot.set(job.lot_name)
            self.lot_name = job.lot_name
            self.say(f"Profile {job.profile.name} loaded: lot {job.lot_name}")
            self._prestart()
            self._update_watching()
            self.refresh_lot()

        self.workers.submit(lambda: session.prepare(chosen, lot=None, operator=operator), done)

    def _audit(self, action: str, *, granted: bool, reason: str | None = None, operator: str | None = None,
               role: str | None = None, device_id: str | None = None, details: dict[str, Any] | None = None) -> None:
        """Write an audit row in a worker (the registry may be remote); a failure is logged, not lost silently."""
        if self.session is None:
            return
        session = self.session
        who, as_role = operator or self.operator or "(nobody)", role or self.role

        def done(_: Any, error: BaseException | None) -> None:
            if error is not None:
                LOG.error("could not write the audit row for %s: %s", action, error)
                self.say(f"Could not record {action} in the audit log: {error}", error=True)

        self.workers.submit(lambda: people.audit(session, action, operator=who, role=as_role, granted=granted,
                                                 reason=reason, device_id=device_id, details=details), done)

    # ------------------------------------------------------------------ scans and records
    @Slot(object)
    def on_scan(self, scan: Scan) -> None:
        key = scan.key
        self.say(f"Scanned {scan.kind.value}: {key}")
        self.history.show_device(key)
        self.open_record(key, scan=scan)

    @Slot(str)
    def on_unrecognised_scan(self, why: str) -> None:
        self.say(f"Scan not recognised: {why}", error=True)

    def open_slot_record(self, slot: str) -> None:
        card = self.board.card(slot)
        if card is not None and card.view.device_id:
            self.log_pane.show_slot(slot)
            self.open_record(card.view.device_id)

    def open_record(self, key: str, *, scan: Scan | None = None) -> RecordDialog:
        dialog = RecordDialog(key, self.scale, self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.finished.connect(self._record_closed)
        dialog.printLabel.connect(self.menus.print_label)
        self.records.append(dialog)
        dialog.show()
        if self.session is None:
            dialog.show_error("The station is still opening")
            return dialog
        session = self.session

        def done(rec: Any, error: BaseException | None) -> None:
            if dialog not in self.records:
                return
            if error is not None:
                dialog.show_error(str(error) if isinstance(error, ConfigError) else f"Cannot read the record: {error}")
            else:
                dialog.show_record(rec.detail, note=rec.note)

        self.workers.submit(lambda: history.full_record(session, scan or key), done)  # a scan's serial is checked
        return dialog

    def _record_closed(self, _: int) -> None:
        self.records = [d for d in self.records if d.isVisible()]

    # ------------------------------------------------------------------ lot, cloud, history
    def refresh_status(self) -> None:
        if self.session is None:
            return
        session = self.session
        self.workers.submit(session.outbox_counts, self._cloud_counts)
        self.refresh_lot()

    def _cloud_counts(self, counts: Any, error: BaseException | None) -> None:
        if error is not None:
            self.topbar.cloud.set("registry unreachable")
            return
        pending, imported, failed = counts
        self.topbar.set_cloud(getattr(self, "_cloud_online", None), pending, failed)
        self.cloud_panel.show_counts(pending, imported, failed)

    def refresh_lot(self) -> None:
        if self.session is None or not self.lot_name:
            return
        session, lot = self.session, self.lot_name

        titles = self.job.profile.tests.titles() if self.job is not None else {}

        def done(fig: Any, error: BaseException | None) -> None:
            if error is None:
                # the chart names steps as the cards do ("Battery voltage", "Writing firmware")
                by_step = [(step_title(n, titles), c) for n, c in dict(fig.get("failures_by_step") or {}).items()]
                self.lot_panel.show_figures(LotFigures(**{**fig, "failures_by_step": by_step}))

        self.workers.submit(lambda: session.lot_figures(lot), done)

    def _history_page(self, query: HistoryQuery, cursor: Any, limit: int) -> tuple[list[Any], Any]:
        """Runs in a worker: one page of the registry's attempts read model."""
        if self.session is None:
            return [], None
        return history.page(self.session, text=query.text, outcome=query.outcome, lot=query.lot,
                            since_hours=query.since_hours, after=cursor, limit=limit)

    def _cloud_page(self, state: str | None, cursor: Any, limit: int) -> tuple[list[Any], Any]:
        if self.session is None:
            return [], None
        return self.session.outbox_entries(state, limit), None

    def _tab_changed(self, index: int) -> None:
        page = self.tabs.widget(index)
        if page is self.cloud_panel:
            self.cloud_panel.requery()
        elif page is self.lot_panel:
            self.refresh_lot()
        elif page is self.history and self.session is not None:
            session = self.session
            self.workers.submit(session.lots, self._history_lots)  # the lot filter lists the registry's lots

    def _history_lots(self, lots: Any, error: BaseException | None) -> None:
        if error is None:
            self.history.set_lots([lt.name for lt in lots or []])

    def _tab_shortcut(self, i: int) -> Callable[[], None]:
        def go() -> None:
            self.tabs.setCurrentIndex(i)

        return go

    def sync_now(self) -> None:
        if self.session is None:
            return
        self.cloud_panel.sync_button.setEnabled(False)
        self.cloud_panel.show_sync("syncing…")
        self.workers.submit(self.session.sync, self._synced)

    def _synced(self, report: Any, error: BaseException | None) -> None:
        self.cloud_panel.sync_button.setEnabled(True)
        if error is not None:
            self.cloud_panel.show_sync(f"Sync failed: {error}")
        else:
            parts = [f"{report.imported} imported", f"{report.needs_attention} need attention",
                     f"{report.rescheduled} stay queued"]
            if report.missing_credentials:
                parts.append("no credential for " + ", ".join(report.missing_credentials)
                             + ": entries stay queued until one is set up")
                self._cloud_online = None
            else:
                self._cloud_online = not report.rescheduled
            self.cloud_panel.show_sync("Last sync: " + "; ".join(parts))
        self.cloud_panel.requery()
        self.refresh_status()

    def retry_parked(self) -> None:
        if self.session is None:
            return

        def done(n: Any, error: BaseException | None) -> None:
            self.cloud_panel.show_sync(f"Retry failed: {error}" if error else f"{n} entries queued again")
            self.cloud_panel.requery()
            self.refresh_status()

        self.workers.submit(self.session.retry_parked, done)

    def open_export(self) -> ExportDialog | None:
        if self.session is None:
            return None
        session = self.session

        def lots_read(lots: Any, error: BaseException | None) -> None:
            names = [lt.name for lt in lots or []]
            dialog = ExportDialog(names, session.export, self.workers, folder=self.export_dir,
                                  current=self.lot_name, parent=self)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            self.export_dialog = dialog
            dialog.show()

        self.workers.submit(session.lots, lots_read)
        return None

    # ------------------------------------------------------------------ messages
    def say(self, text: str, *, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #A00000;" if error else "")

    def explain(self, why: str) -> None:
        """A window-modal note that does not block the event loop (slots keep running behind it)."""
        if self.explanation is not None:
            self.explanation.close()
        box = QMessageBox(QMessageBox.Icon.Information, "Not for this role", why, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(self._explained)
        self.explanation = box
        box.open()
        self.say(why, error=True)

    def _explained(self, _: int) -> None:
        self.explanation = None

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event: QCloseEvent) -> None:
        if self.session is None or self._closing is None:
            self._shutdown()
            event.accept()
            return
        active = self.session.active()
        if not active:
            self._shutdown()
            event.accept()
            return
        if not self._closing:
            answer = QMessageBox.question(
                self, "Slots are running",
                f"{len(active)} slot(s) are still provisioning. Stop them at the end of their current step "
                "and close?", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No)
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self.begin_close()
        event.ignore()  # closes itself once every slot has stopped

    def begin_close(self) -> None:
        """Cancel every slot and close once all of them have stopped (polled, never waited on)."""
        self._closing = True
        self.session.stop_watching()
        self.session.cancel_all()
        self.say("Stopping every slot at a step boundary; the window closes when they have stopped")
        self._close_poll = QTimer(self)
        self._close_poll.setInterval(200)
        self._close_poll.timeout.connect(self._close_when_idle)
        self._close_poll.start()

    def _close_when_idle(self) -> None:
        if self.session.active():
            return
        self._close_poll.stop()
        self._closing = None  # type: ignore[assignment]
        self.close()

    def _shutdown(self) -> None:
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self.scanner)
        logging.getLogger("station").removeHandler(self.log_handler)
        self.second.stop()
        self.slow.stop()
        if self.session is not None:
            self.session.stop_watching()
        self.workers.wait(3000)  # let queries in flight finish; their results are dropped

