"""State: job records in a store, transitions, waiters and lifecycle events."""
