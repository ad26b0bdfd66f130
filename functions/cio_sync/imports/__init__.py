"""The Mute Promotions import: a CSV of member ids in S3 becomes mutes in the member table and a report."""
