-- V9: several daemons on one database (see "Several hosts" in docs/OPERATIONS.md).
-- Same tables as migrations/sqlite/V9__cluster.sql; every statement re-runnable.

-- The one lease: which node leads (runs the outbox, the poller and housekeeping) and
-- until when, on the database server's clock. `epoch` grows at each change of leader;
-- a job's outcome commits only while the epoch it was claimed under still holds.
-- `host` and `pid` name the leader's process: a node that takes its own lease back
-- after a crash knows whether that process is gone (its requests died with it).
CREATE TABLE IF NOT EXISTS numhubd_lease (
    id          TINYINT     NOT NULL,
    node        VARCHAR(64)     NULL,
    host        VARCHAR(255)    NULL,
    pid         INT             NULL,
    epoch       BIGINT      NOT NULL DEFAULT 0,
    acquired_at DATETIME(6)     NULL,
    expires_at  DATETIME(6)     NULL,
    PRIMARY KEY (id),
    CONSTRAINT numhubd_lease_id_check CHECK (id = 1),
    CONSTRAINT numhubd_lease_epoch_check CHECK (epoch >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT IGNORE INTO numhubd_lease (id, epoch) VALUES (1, 0);

-- Every daemon that has run on this database, by node name: who it is and when it was
-- last seen (each second while it runs). A live node also holds a named lock, which
-- the server frees when its session ends; a second daemon with the same name is
-- refused naming the row.
CREATE TABLE IF NOT EXISTS numhubd_nodes (
    node       VARCHAR(64)  NOT NULL,
    host       VARCHAR(255) NOT NULL,
    pid        INT          NOT NULL,
    version    VARCHAR(32)  NOT NULL,
    started_at DATETIME(6)  NOT NULL,
    last_seen  DATETIME(6)  NOT NULL,
    PRIMARY KEY (node)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The spool in the store (docs/OPERATIONS.md "Several hosts"): numhubd's copy of each
-- taken file, so that whichever host leads can send a file another host took, and a
-- host that dies right after taking one loses nothing. A copy is its chunks (1 MiB
-- each, well under max_allowed_packet) and then its head row: a copy without a head
-- is never read, so a half-written one is never taken for a whole one.
CREATE TABLE IF NOT EXISTS numhubd_spool_chunks (
    sha256     CHAR(64)    NOT NULL,
    seq        INT         NOT NULL,
    bytes      MEDIUMBLOB  NOT NULL,
    written_at DATETIME(6) NOT NULL,
    PRIMARY KEY (sha256, seq),
    KEY numhubd_spool_chunks_written_at_index (written_at),
    CONSTRAINT numhubd_spool_chunks_seq_check CHECK (seq >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS numhubd_spool (
    sha256     CHAR(64)    NOT NULL,
    size_bytes BIGINT      NOT NULL,
    chunks     INT         NOT NULL,
    -- Written, or last found already stored by a take: the sweep's grace counts from it.
    stored_at  DATETIME(6) NOT NULL,
    PRIMARY KEY (sha256),
    KEY numhubd_spool_stored_at_index (stored_at),
    CONSTRAINT numhubd_spool_size_bytes_check CHECK (size_bytes >= 0),
    CONSTRAINT numhubd_spool_chunks_check CHECK (chunks >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Events from every host: each event a host publishes, with its node, tailed by the
-- other hosts (the `relay` module) and purged after minutes by housekeeping.
CREATE TABLE IF NOT EXISTS numhubd_events (
    id         BIGINT      NOT NULL AUTO_INCREMENT,
    node       VARCHAR(64) NOT NULL,
    event      LONGTEXT    NOT NULL,
    created_at DATETIME(6) NOT NULL,
    PRIMARY KEY (id),
    KEY numhubd_events_created_at_index (created_at),
    CONSTRAINT numhubd_events_event_check CHECK (json_valid(event))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One NumHub budget for all hosts (db::budget, numhub::governor::shared): NumHub
-- counts one limit per account whichever host sends, so the starts of the last span,
-- a 429 pause and what NumHub last said is left live here, read and updated in one
-- short transaction per request start on the server's clock. `account` is a digest
-- of the login, never the email itself.
CREATE TABLE IF NOT EXISTS numhub_budget (
    account      CHAR(64)    NOT NULL,
    paused_until DATETIME(6)     NULL,
    told_left    INT             NULL,
    told_until   DATETIME(6)     NULL,
    PRIMARY KEY (account)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Each request start of the last span (older ones are deleted as starts are taken).
CREATE TABLE IF NOT EXISTS numhub_budget_starts (
    id          BIGINT      NOT NULL AUTO_INCREMENT,
    account     CHAR(64)    NOT NULL,
    started_at  DATETIME(6) NOT NULL,
    interactive TINYINT     NOT NULL,
    PRIMARY KEY (id),
    KEY numhub_budget_starts_account_started_at_index (account, started_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Interactive callers waiting for a start, on any host: background starts yield to
-- them while a row is live (`expires_at`: a waiter that vanished stops counting soon).
CREATE TABLE IF NOT EXISTS numhub_budget_waiters (
    account    CHAR(64)    NOT NULL,
    waiter     CHAR(36)    NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    PRIMARY KEY (account, waiter)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Each tenant's interactive starts of the last minute ([numhub]
-- tenant_interactive_per_min), counted across hosts.
CREATE TABLE IF NOT EXISTS numhub_tenant_spends (
    id        BIGINT      NOT NULL AUTO_INCREMENT,
    tenant_id BIGINT      NOT NULL,
    spent_at  DATETIME(6) NOT NULL,
    PRIMARY KEY (id),
    KEY numhub_tenant_spends_tenant_id_spent_at_index (tenant_id, spent_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One login at a time per account across hosts: the host holding an account's row
-- logs in; the others wait for the token it stores. `expires_at` is renewed while
-- the login runs, so a host that died mid-login blocks the account only briefly.
CREATE TABLE IF NOT EXISTS numhub_login_leases (
    account    VARCHAR(32) NOT NULL,
    holder     CHAR(36)    NOT NULL,
    expires_at DATETIME(6) NOT NULL,
    PRIMARY KEY (account)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
