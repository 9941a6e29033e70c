"""The worker and cron processes and the jobs of the outbox, schedules and housekeeping."""
