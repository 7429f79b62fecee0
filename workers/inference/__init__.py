"""Serving for inference endpoints: plain Python over torch and transformers (see engine.py).

streams.py (token events between a worker and the web) imports neither torch nor Celery: the web uses it too.
"""
