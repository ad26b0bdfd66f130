"""`make bench`: issue 8's figures measured on the local stack (`run`), computed and shown by `report`."""
