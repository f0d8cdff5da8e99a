"""Reminders: from the catalog and the subscribers to mail, through the database.

The planner writes what is due into the outbox; the sender claims due rows, mails them and
records the outcome; the worker only decides when to run them. Nothing lives in memory only,
so a restart loses nothing.
"""
