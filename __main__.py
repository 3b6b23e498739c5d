"""`python -m edgeloop` runs the same CLI as the `edgeloop` console script."""

from edgeloop.app.cli import main

raise SystemExit(main())
