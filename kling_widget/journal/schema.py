"""The journal's SQLite schema and its migrations.

``MIGRATIONS[i]`` takes a journal from version ``i`` to ``i + 1``; a new
version appends a script, never edits an old one. Every timestamp is Unix
seconds (REAL); JSON columns hold exactly what Kling sent or what was sent to it
(minus secrets, which are never written, and image bytes, which are files).
"""

from __future__ import annotations

APPLICATION_ID = 0x4B4C4E47  # "KLNG": marks the file as a kling-widget journal

MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1
    """
    CREATE TABLE clip (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        path TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        size INTEGER NOT NULL,
        created_at REAL NOT NULL
    );
    CREATE TABLE sessions (
        session_id TEXT PRIMARY KEY,
        host TEXT NOT NULL,
        video_url TEXT,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        raw TEXT NOT NULL,
        ended_at REAL,
        end_reason TEXT
    );
    CREATE TABLE selection_ops (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL REFERENCES sessions(session_id),
        op TEXT NOT NULL CHECK (op IN ('add', 'delete', 'clear')),
        frame_index INTEGER,
        points TEXT NOT NULL DEFAULT '[]',
        masks TEXT NOT NULL DEFAULT '[]',
        replay_of INTEGER REFERENCES selection_ops(seq),
        created_at REAL NOT NULL
    );
    CREATE TABLE images (
        sha256 TEXT PRIMARY KEY,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        format TEXT
    );
    CREATE TABLE tasks (
        external_task_id TEXT PRIMARY KEY,
        task_id TEXT,
        kind TEXT NOT NULL CHECK (kind IN ('multi-elements', 'omni-video')),
        params TEXT NOT NULL,
        session_id TEXT,
        status TEXT NOT NULL,
        status_msg TEXT,
        error TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        server_created_at REAL,
        result_urls TEXT NOT NULL DEFAULT '[]',
        expires_at REAL,
        raw TEXT
    );
    CREATE TABLE task_status (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        external_task_id TEXT NOT NULL REFERENCES tasks(external_task_id),
        status TEXT NOT NULL,
        status_msg TEXT,
        at REAL NOT NULL
    );
    CREATE TABLE downloads (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        external_task_id TEXT NOT NULL REFERENCES tasks(external_task_id),
        url TEXT NOT NULL,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        completed_at REAL NOT NULL
    );
    CREATE INDEX selection_ops_frame ON selection_ops(frame_index);
    CREATE INDEX task_status_task ON task_status(external_task_id);
    CREATE INDEX downloads_task ON downloads(external_task_id);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)

# Tables in dependency order (what ``recover`` copies, parents first).
TABLES = ("clip", "sessions", "selection_ops", "images", "tasks", "task_status", "downloads")
