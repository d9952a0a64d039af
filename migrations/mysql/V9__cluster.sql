-- V9: several daemons on one database (see "Several hosts" in docs/OPERATIONS.md).
-- Same tables as migrations/sqlite/V9__cluster.sql; every statement re-runnable.

-- The one lease: which node leads (runs the outbox, the poller and housekeeping) and
-- until when, on the database server's clock. `epoch` grows at each change of leader;
-- a job's outcome commits only while the epoch it was claimed under still holds.
CREATE TABLE IF NOT EXISTS numhubd_lease (
    id          TINYINT     NOT NULL,
    node        VARCHAR(64)     NULL,
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
