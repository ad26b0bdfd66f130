"""Lambda entry points: each wires Powertools to one domain call."""
