"""Customer.io in the domain's words: Track operations, how they are packed into `/api/v2/batch`
requests, each operation's outcome, and the typed error tree that says whether a retry can help.

Pure: the HTTP clients that send these are adapters (cio_sync.adapters.customerio).
"""
