"""``python -m tcnad.topology.cli``: the ``tcnad`` command."""

import sys

from tcnad.topology.cli.main import main

sys.exit(main())
