"""Storage: SQLAlchemy Core tables, Alembic migrations, repositories (SQLite and PostgreSQL)."""
