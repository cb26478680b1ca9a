"""`python -m controller`: Ctrl-C during the start-up ends it quietly, imports included."""

import os
import signal


def _exit_quietly(signum, frame):  # the same as controller.cli.exit_quietly, before its import
    os.write(2, b"interrupted\n")
    os._exit(130)


signal.signal(signal.SIGINT, _exit_quietly)

from controller.cli import main  # noqa: E402 - after the handler, so its imports are covered

raise SystemExit(main())
