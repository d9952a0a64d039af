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
