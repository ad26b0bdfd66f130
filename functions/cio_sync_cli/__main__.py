"""`python -m cio_sync_cli`: the same as the `cio-sync` console script."""

import sys

from cio_sync_cli.main import main

sys.exit(main())
