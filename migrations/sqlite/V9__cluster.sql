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
