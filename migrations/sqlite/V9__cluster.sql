-- V9: the cluster's tables (migrations/mysql/V9__cluster.sql says what they hold). A
-- SQLite store has one daemon: the tables stay as created, so a version means the same
-- schema on both engines.
CREATE TABLE numhubd_lease (
    id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    node        TEXT,
    host        TEXT,
    pid         INTEGER,
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

-- One NumHub budget for all hosts (migrations/mysql/V9__cluster.sql says what these
-- hold). A SQLite store has one daemon, whose budget stays in memory: the tables stay
-- empty.
CREATE TABLE numhub_budget (
    account      TEXT NOT NULL PRIMARY KEY,
    paused_until TEXT,
    told_left    INTEGER,
    told_until   TEXT
) STRICT;

CREATE TABLE numhub_budget_starts (
    id          INTEGER NOT NULL PRIMARY KEY,
    account     TEXT    NOT NULL,
    started_at  TEXT    NOT NULL,
    interactive INTEGER NOT NULL
) STRICT;

CREATE INDEX numhub_budget_starts_account_started_at_index
    ON numhub_budget_starts (account, started_at);

CREATE TABLE numhub_budget_waiters (
    account TEXT NOT NULL,
    waiter  TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (account, waiter)
) STRICT;

CREATE TABLE numhub_tenant_spends (
    id        INTEGER NOT NULL PRIMARY KEY,
    tenant_id INTEGER NOT NULL,
    spent_at  TEXT    NOT NULL
) STRICT;

CREATE INDEX numhub_tenant_spends_tenant_id_spent_at_index
    ON numhub_tenant_spends (tenant_id, spent_at);

CREATE TABLE numhub_login_leases (
    account    TEXT NOT NULL PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;
