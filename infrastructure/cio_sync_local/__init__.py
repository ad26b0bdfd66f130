"""Local stand-ins for AWS and Customer.io, and tooling that never ships to Lambda."""
