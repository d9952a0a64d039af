-- V2: what the seed does not have but the daemon needs.
--
-- jobs: the durable outbox. A local change that NumHub must see is written together
-- with its job in one transaction; the sync engine carries it out. Jobs of the same
-- entity run in id order. The payload never holds a secret.
CREATE TABLE jobs (
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
    payload         TEXT    NOT NULL CHECK (json_valid(payload)),
    -- queued: waiting; running: an attempt is in flight (found at start = interrupted);
    -- failed: the last attempt failed, another is due at next_attempt_at;
    -- done; dead: retries exhausted; needs_attention: the outcome could not be
    -- established and an operator must retry or resolve it.
    state           TEXT    NOT NULL DEFAULT 'queued' CHECK (state IN (
                        'queued', 'running', 'failed', 'done', 'dead', 'needs_attention')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TEXT    NOT NULL,
    -- When the current (or last) attempt began: the ambiguous-outcome lookups compare
    -- NumHub's dates with it.
    started_at      TEXT,
    last_error      TEXT,
    created_at      TEXT    NOT NULL,
    updated_at      TEXT    NOT NULL
) STRICT;
CREATE INDEX jobs_state_next_attempt_at_index ON jobs (state, next_attempt_at);
CREATE INDEX jobs_entity_id_index ON jobs (entity_id);
CREATE INDEX jobs_tenant_id_state_index ON jobs (tenant_id, state);

-- Per-tenant NumHub logins, set over the RPC (write-only). age-encrypted like tokens.
CREATE TABLE numhub_credentials (
    id                INTEGER PRIMARY KEY,
    tenant_id         INTEGER NOT NULL UNIQUE REFERENCES tenants (id) ON DELETE CASCADE,
    email_armored     TEXT    NOT NULL CHECK (email_armored LIKE '-----BEGIN AGE ENCRYPTED FILE-----%'),
    password_armored  TEXT    NOT NULL CHECK (password_armored LIKE '-----BEGIN AGE ENCRYPTED FILE-----%'),
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL
) STRICT;

-- A login NumHub rejected (400/403 at the token operation). No further attempt is
-- made for that account until its credentials change or an operator retries:
-- retrying a wrong password every cycle could lock the account at NumHub. The
-- rejected credentials are kept age-encrypted so a change can be recognised after a
-- restart without storing anything that could be brute-forced.
CREATE TABLE numhub_login_blocks (
    account             TEXT    PRIMARY KEY NOT NULL
                                CHECK (account = 'global' OR (account GLOB 'tenant:[0-9]*' AND substr(account, 8) NOT GLOB '*[^0-9]*')),
    reason              TEXT    NOT NULL,
    status_code         INTEGER CHECK (status_code IS NULL OR status_code BETWEEN 100 AND 599),
    credentials_armored TEXT    NOT NULL CHECK (credentials_armored LIKE '-----BEGIN AGE ENCRYPTED FILE-----%'),
    blocked_at          TEXT    NOT NULL
) STRICT;
