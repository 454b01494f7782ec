"""``python -m autograder``: the instructor's command line (see ``--help``)."""

from autograder.cli import main

raise SystemExit(main())
