"""`python -m cio_sync_local.bench`: runs the benchmark; exit 1 when a target is missed, 2 when it broke."""

import sys

from cio_sync_local.bench.run import main

sys.exit(main())
