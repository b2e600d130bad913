"""The operator window (PySide6). The only package of the station that imports Qt.

Everything here presents: the work is done by :mod:`station.app` in slot threads and in worker
threads (:mod:`station.ui.workers`), and reaches widgets through one bridge
(:mod:`station.ui.bridge`) that turns core events into queued Qt signals. Nothing in this package
talks to a device, a database or the network from the GUI thread.
"""
