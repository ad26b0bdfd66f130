"""cio-sync: keeps Customer.io in step with the member table and sends transactional email."""

__version__ = "0.1.0"
