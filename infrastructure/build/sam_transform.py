"""Turn template.yaml into plain CloudFormation offline, so tests/infra can assert what AWS will create.

cfn-lint 1.54 and later no longer check SAM event-source settings, so the tests read the event source
mappings, roles and queues from samtranslator's output instead. The transform itself is the local stack's
(cio_sync_local/sam.py, which needs samtranslator and the standard library only): what tests/infra
asserts on is exactly what `cio-sync local up` deploys.

Usage: python sam_transform.py TEMPLATE OUTPUT_JSON
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

# Loaded by path: this runs in .venv-sam too, where the project is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cio_sync_local.sam import load_template, transform_template


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    template_path, output_path = Path(argv[1]), Path(argv[2])
    transformed = transform_template(load_template(template_path))
    output_path.parent.mkdir(parents=True, exist_ok=True)
    output_path.write_text(json.dumps(transformed, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
