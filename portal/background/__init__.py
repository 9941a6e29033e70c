"""Background work: the transactional outbox, RQ queues, schedules and the job monitor."""
