"""Jobs: fine-tune and compression runs, a database row first, then a Celery message carrying its id."""
