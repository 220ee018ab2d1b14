"""Command line: ``python -m genre_models predict|features FILE...``."""
from .cli import main

raise SystemExit(main())
