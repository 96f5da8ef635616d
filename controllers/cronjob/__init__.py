"""The CronJob controller (batch/v1 CronJob): cron schedules that create Jobs."""
