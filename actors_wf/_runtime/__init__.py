"""Services: the JobManager, JobActor and StepActor actors and the executors."""
