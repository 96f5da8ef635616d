"""The Job controller (batch/v1 Job) and the TTL-after-finished cleanup of finished Jobs."""
