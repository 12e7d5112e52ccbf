"""Storage: SQLAlchemy models, Alembic migrations, the content-addressed
artifact store and the one Session factory."""
