"""The Customer.io HTTP adapters: Track (`/api/v2/batch`) and App (transactional email) clients on one
pooled, paced, deadline-aware, retrying transport each. Built on urllib3 rather than the official SDK
(docs/customerio.md says why); each function's composition root builds the one client it uses.
"""
