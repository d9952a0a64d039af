-- V4: the typed outbox.
--
-- state gains `waiting`: a job that cannot start until something outside it changes
-- (a blocked login, missing credentials, a tenant without a client id) is shown as
-- such instead of as `failed`. Existing `failed` rows that were really waiting
-- cannot be told apart and stay `failed` (they are claimed again all the same).
-- resume_since becomes a column: the start of the earliest attempt a crash
-- interrupted, which the executor looks up at NumHub before resending (it used to
-- be written into the payload with json_set, so the payload was not the job's own).
--
-- A STRICT table's CHECK changes only by rebuilding the table: same columns, same
-- foreign keys with their ON DELETE CASCADE, the indexes of V2 and V3, and the
-- AUTOINCREMENT high-water mark, so a purged job's id is never handed out again.
CREATE TABLE jobs_v4 (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id       INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind            TEXT    NOT NULL CHECK (kind IN (
                        'entity.create', 'entity.update', 'entity.submit',
                        'document.upload', 'document.delete',
                        'identity.update', 'identity.deactivate',
                        'identity.numbers.add', 'identity.numbers.remove')),
    -- Local ids of what the job acts on (entity_id / identity_id / document_id at the edge).
    entity_id       TEXT    REFERENCES numhub_entities (id) ON DELETE CASCADE,
    identity_id     TEXT    REFERENCES numhub_identities (id) ON DELETE CASCADE,
    document_id     TEXT    REFERENCES numhub_documents (id) ON DELETE CASCADE,
    -- What the kind needs to be carried out (db::jobs::JobPayload); never a secret.
    payload         TEXT    NOT NULL CHECK (json_valid(payload)),
    -- queued: due at next_attempt_at; running: an attempt is in flight (found at
    -- start = interrupted); failed: the last attempt failed, another is due at
    -- next_attempt_at; waiting: blocked by something outside the job (last_error
    -- says what), looked at again at next_attempt_at without using an attempt;
    -- done; dead: retries exhausted or refused; needs_attention: the outcome could
    -- not be established and an operator must retry or resolve it.
    state           TEXT    NOT NULL DEFAULT 'queued' CHECK (state IN (
                        'queued', 'running', 'failed', 'waiting', 'done', 'dead',
                        'needs_attention')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TEXT    NOT NULL,
    -- When the current (or last) attempt began: the ambiguous-outcome lookups compare
    -- NumHub's dates with it.
    started_at      TEXT,
    -- The start of the earliest attempt a crash interrupted (NULL: none was).
    resume_since    TEXT,
    last_error      TEXT,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
) STRICT;

INSERT INTO jobs_v4 (id, tenant_id, kind, entity_id, identity_id, document_id, payload,
                     state, attempts, next_attempt_at, started_at, resume_since,
                     last_error, created_at, updated_at)
SELECT id, tenant_id, kind, entity_id, identity_id, document_id,
       json_remove(payload, '$.resume_since'),
       state, attempts, next_attempt_at, started_at,
       json_extract(payload, '$.resume_since'),
       last_error, created_at, updated_at
FROM jobs ORDER BY id;

DELETE FROM sqlite_sequence WHERE name = 'jobs_v4';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'jobs_v4', max(seq) FROM (
    SELECT seq FROM sqlite_sequence WHERE name = 'jobs'
    UNION ALL SELECT max(id) FROM jobs_v4
) HAVING max(seq) IS NOT NULL;

DROP TABLE jobs;
ALTER TABLE jobs_v4 RENAME TO jobs;

CREATE INDEX jobs_state_next_attempt_at_index ON jobs (state, next_attempt_at);
CREATE INDEX jobs_entity_id_index ON jobs (entity_id);
CREATE INDEX jobs_tenant_id_state_index ON jobs (tenant_id, state);
CREATE INDEX jobs_identity_id_index ON jobs (identity_id);
CREATE INDEX jobs_document_id_index ON jobs (document_id);
