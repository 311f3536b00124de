"""Background jobs of the hub: the jobs table (queue.py), the worker that runs one (runner.py),
the hub's own worker thread (inprocess.py, SQLite), procrastinate (pgqueue.py, PostgreSQL) and
the retrain triggers (triggers.py)."""
