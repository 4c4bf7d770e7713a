"""Allows `python -m rnnkit ...`, the same as the `rnnkit` console script."""

from rnnkit.cli import main

raise SystemExit(main())
