-- V6: the mark of a backup copy.
--
-- `numhubctl backup PATH` (the RPC `daemon.backup`) writes this one row into the copy
-- it makes, never into the live database: when the copy's snapshot was taken and the
-- file it was taken from. The daemon the copy came from went on sending after that
-- instant, so the first `serve` on a file holding the row treats every unfinished
-- create and upload as possibly sent (their `resume_since` is set no later than
-- `taken_at`: NumHub is looked at before anything is sent) and deletes the row, both in
-- one transaction. A row that is present therefore always means "restored, not yet
-- started".
CREATE TABLE backup_marker (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    taken_at    TEXT    NOT NULL,
    source_path TEXT    NOT NULL CHECK (length(source_path) BETWEEN 1 AND 4096)
) STRICT;
