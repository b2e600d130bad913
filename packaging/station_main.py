"""The bundle's entry point: the ``station`` command, as the wheel's console script runs it."""

from station.cli.main import main

if __name__ == "__main__":
    main()
