"""`python -m ifexplorer …` (see ifexplorer.cli)."""
import sys

from .cli import main

sys.exit(main())
