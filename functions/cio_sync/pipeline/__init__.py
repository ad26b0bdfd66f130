"""The sync pipeline: member stream -> queues -> Customer.io (pure steps; adapters are passed in)."""
