-- V9: the cluster's tables (migrations/mysql/V9__cluster.sql says what they hold). A
-- SQLite store has one daemon: the tables stay as created, so a version means the same
-- schema on both engines.
CREATE TABLE numhubd_lease (
    id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    node        TEXT,
    epoch       INTEGER NOT NULL DEFAULT 0 CHECK (epoch >= 0),
    acquired_at TEXT,
    expires_at  TEXT
) STRICT;

INSERT INTO numhubd_lease (id, epoch) VALUES (1, 0);

CREATE TABLE numhubd_nodes (
    node       TEXT    NOT NULL PRIMARY KEY CHECK (length(node) BETWEEN 1 AND 64),
    host       TEXT    NOT NULL,
    pid        INTEGER NOT NULL,
    version    TEXT    NOT NULL,
    started_at TEXT    NOT NULL,
    last_seen  TEXT    NOT NULL
) STRICT;

-- The spool in the store and events from every host (migrations/mysql/V9__cluster.sql
-- says what they hold). Used only on a server store; here they stay empty.
CREATE TABLE numhubd_spool_chunks (
    sha256     TEXT    NOT NULL CHECK (length(sha256) = 64),
    seq        INTEGER NOT NULL CHECK (seq >= 0),
    bytes      BLOB    NOT NULL,
    written_at TEXT    NOT NULL,
    PRIMARY KEY (sha256, seq)
) STRICT;

CREATE INDEX numhubd_spool_chunks_written_at_index ON numhubd_spool_chunks (written_at);

CREATE TABLE numhubd_spool (
    sha256     TEXT    NOT NULL PRIMARY KEY CHECK (length(sha256) = 64),
    size_bytes INTEGER NOT NULL CHECK (size_bytes >= 0),
    chunks     INTEGER NOT NULL CHECK (chunks >= 0),
    stored_at  TEXT    NOT NULL
) STRICT;

CREATE INDEX numhubd_spool_stored_at_index ON numhubd_spool (stored_at);

CREATE TABLE numhubd_events (
    id         INTEGER NOT NULL PRIMARY KEY,
    node       TEXT    NOT NULL CHECK (length(node) BETWEEN 1 AND 64),
    event      TEXT    NOT NULL CHECK (json_valid(event)),
    created_at TEXT    NOT NULL
) STRICT;

CREATE INDEX numhubd_events_created_at_index ON numhubd_events (created_at);
