"""Adapters: the only code that talks to AWS (DynamoDB, SQS, S3, Secrets Manager) or to Customer.io.

Each implements a port (a Protocol) that the pipeline or the import declares, and maps the service's
failures onto domain errors (`TransientFailure`, `cio_sync.members.errors`), so nothing above this
package imports boto3, botocore, pynamodb or an HTTP library.
"""
