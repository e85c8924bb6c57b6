"""`python -m todayfeeling` runs the command line."""

from todayfeeling.cli import main

raise SystemExit(main())
