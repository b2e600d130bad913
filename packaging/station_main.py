"""The bundle's entry point: the ``station`` command, as the wheel's console script runs it.

``freeze_support()`` comes first because in the frozen app ``sys.executable`` is this program:
a multiprocessing *spawn* child (a slot's worker process, ``slot_workers = "process"``/``"auto"``)
re-runs it with ``--multiprocessing-fork ...`` arguments, and spawn's resource tracker re-runs it
with ``-c "from multiprocessing.resource_tracker import main..."``. PyInstaller's multiprocessing
runtime hook makes ``freeze_support()`` recognise both on Linux too and run the child's code then
exit; without the call the child would parse those arguments as a station command and die, and
every slot of a multi-slot line would end "worker process died". In an ordinary (unfrozen) run it
does nothing.
"""

import multiprocessing

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from station.cli.main import main

    main()
