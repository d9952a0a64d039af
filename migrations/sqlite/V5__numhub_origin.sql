-- V5: which NumHub this database talks to.
--
-- One row, written before the database's first exchange with NumHub: 'sandbox'
-- for the embedded sandbox of `serve --sandbox` (its port changes every run, so not
-- its URL), else the configured [numhub] base_url. `serve --sandbox` refuses a
-- database whose origin is anything but the sandbox (or that has NumHub traffic from
-- before this table and no origin), so queued work of a real tenant can never be
-- "sent" to the fake; a real `serve` refuses a sandbox database or another URL's.
CREATE TABLE numhub_origin (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    origin      TEXT    NOT NULL CHECK (
                    origin = 'sandbox'
                    OR ((origin LIKE 'http://%' OR origin LIKE 'https://%') AND length(origin) <= 2048)
                ),
    recorded_at TEXT    NOT NULL
) STRICT;
