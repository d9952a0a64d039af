-- V8 (MySQL 8.0.23+ / MariaDB 10.6+): numhubd's whole schema as SQLite has it after
-- migrations/sqlite/V1..V8, written once for both servers. migrations/mysql/README.md
-- maps the types and lists each place this file differs from the SQLite schema, and why.
-- Numbered 8 so that a schema version means the same schema on both engines: the next
-- change is V9 in migrations/sqlite and in migrations/mysql.
-- (MySQL before 8.0.16 parses CHECK constraints and ignores them; INVISIBLE is 8.0.23's.)
--
-- Rules for this file and every later one in migrations/mysql/:
-- * MySQL DDL is not transactional (each statement commits on its own), so a migration
--   that fails halfway leaves its first statements applied. Every statement must be
--   safe to run again: CREATE TABLE IF NOT EXISTS with its columns, keys, indexes and
--   constraints inside it, never a separate ALTER or CREATE INDEX. (A later change to an
--   existing table cannot be written that way: MySQL 8.0 has no ALTER ... ADD ... IF NOT
--   EXISTS. It needs a guard, e.g. a new table copied and renamed, each step re-runnable.)
-- * The session runs with explicit_defaults_for_timestamp = ON (numhubd sets it on every
--   connection). Without it the first TIMESTAMP NOT NULL column of a table silently gets
--   DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, and the others a zero default.
-- * Also per session: time_zone = '+00:00' (TIMESTAMP values are converted through it)
--   and a strict sql_mode with ANSI_QUOTES, so string literals are in single quotes only
--   and expressions here avoid || and double quotes (their meaning depends on sql_mode).
-- * Every table: ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin, so text
--   compares byte-wise and case-sensitively as on SQLite (but see README: utf8mb4_bin
--   ignores trailing spaces in = and in unique keys) and 4-byte characters fit.
-- * Names: indexes keep the SQLite migrations' names; foreign keys are
--   <table>_<column>_foreign and checks <table>_<column>_check, as Laravel would name
--   them (MySQL wants both unique across the database).
-- * JSON columns are LONGTEXT with CHECK (json_valid(...)), not JSON: MySQL 8's JSON
--   type stores a binary form and gives back re-ordered keys and re-spaced text, and
--   numhubd keeps NumHub's answers byte for byte. (MariaDB's JSON is this same type.)
-- * varchar(n) lengths are the column types (strict mode refuses a longer value, naming
--   the column), so only a CHECK for a lower bound remains of SQLite's length CHECKs.
-- * REGEXP patterns never use $ (it also matches before a final newline): "only
--   characters of a set" is written as NOT REGEXP '[^set]', as SQLite's NOT GLOB was.
-- * Seed tables (and brand_phone_numbers, documents, which an app reads beside them) use
--   TIMESTAMP(6) as Laravel's timestamp; numhubd's own tables use DATETIME(6) (no 2038
--   limit, no time-zone conversion).
--
-- Order: every foreign key's target exists before it, except one. brands and
-- numhub_entities reference each other (brands.numhub_entity_id -> NumHub's id on
-- numhub_entities; numhub_entities.brand_id -> brands), so brands is created with
-- foreign_key_checks off, which lets a foreign key name a table that does not exist yet;
-- numhub_entities, created later with checks on, completes it (MySQL then verifies the
-- two columns match). The SET is per session: a failure in between leaves it off only
-- on this connection, and numhubd migrates on a pool of its own that it then closes.

CREATE TABLE IF NOT EXISTS tenants (
    -- BrandCall's tenant id, given by the caller: not AUTO_INCREMENT.
    id               BIGINT       NOT NULL,
    name             VARCHAR(255) NOT NULL,
    email            VARCHAR(255) NULL,
    slug             VARCHAR(255) NULL,
    -- NumHub's client-id header is an int32: anything else could never be sent.
    numhub_client_id VARCHAR(100) NULL,
    numhub_osp_id    VARCHAR(100) NULL,
    numhub_enabled   TINYINT(1)   NOT NULL DEFAULT 0,
    created_at       TIMESTAMP(6) NOT NULL,
    updated_at       TIMESTAMP(6) NOT NULL,
    -- What SQLite's unique index on CAST(numhub_client_id AS INTEGER) compares ('05' and
    -- '5' are one client): the digits without leading zeros ('0' for zero). MariaDB has
    -- no expression index, so a generated column carries it; a string, because CAST of
    -- a value the CHECK is about to refuse would fail first with a less clear error.
    -- INVISIBLE: SELECT * and INSERT without a column list see SQLite's columns only.
    numhub_client_id_canonical VARCHAR(100)
        GENERATED ALWAYS AS (CASE TRIM(LEADING '0' FROM numhub_client_id)
                                 WHEN '' THEN '0'
                                 ELSE TRIM(LEADING '0' FROM numhub_client_id) END) STORED INVISIBLE,
    PRIMARY KEY (id),
    -- SQLite's index is partial (WHERE slug IS NOT NULL): NULLs never collide here either.
    UNIQUE KEY tenants_slug_unique (slug),
    UNIQUE KEY tenants_numhub_client_id_unique (numhub_client_id_canonical),
    CONSTRAINT tenants_name_check CHECK (CHAR_LENGTH(name) >= 1),
    -- Digits only, at most 2147483647. The length test comes first so that CAST never
    -- sees a number it would overflow (AND stops at the first false).
    CONSTRAINT tenants_numhub_client_id_check CHECK (
        numhub_client_id REGEXP '^[0-9]'
        AND numhub_client_id NOT REGEXP '[^0-9]'
        AND CHAR_LENGTH(TRIM(LEADING '0' FROM numhub_client_id)) <= 10
        AND CAST(numhub_client_id AS UNSIGNED) <= 2147483647),
    CONSTRAINT tenants_numhub_enabled_check CHECK (numhub_enabled IN (0, 1))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

SET foreign_key_checks = 0;

CREATE TABLE IF NOT EXISTS brands (
    id               BIGINT       NOT NULL AUTO_INCREMENT,
    tenant_id        BIGINT       NOT NULL,
    name             VARCHAR(255) NOT NULL,
    display_name     VARCHAR(32)  NULL,
    -- NumHub's id of the application this brand maps to (NULL until NumHub assigned one).
    numhub_entity_id VARCHAR(100) NULL,
    created_at       TIMESTAMP(6) NOT NULL,
    updated_at       TIMESTAMP(6) NOT NULL,
    PRIMARY KEY (id),
    KEY brands_tenant_id_index (tenant_id),
    KEY brands_numhub_entity_id_index (numhub_entity_id),
    CONSTRAINT brands_tenant_id_foreign FOREIGN KEY (tenant_id)
        REFERENCES tenants (id) ON DELETE CASCADE,
    -- numhub_entities does not exist yet on a first run (see the header).
    CONSTRAINT brands_numhub_entity_id_foreign FOREIGN KEY (numhub_entity_id)
        REFERENCES numhub_entities (numhub_entity_id) ON DELETE SET NULL ON UPDATE CASCADE,
    CONSTRAINT brands_name_check CHECK (CHAR_LENGTH(name) >= 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

SET foreign_key_checks = 1;

CREATE TABLE IF NOT EXISTS numhub_tokens (
    id            BIGINT       NOT NULL AUTO_INCREMENT,
    tenant_id     BIGINT       NULL,
    token_type    VARCHAR(20)  NOT NULL,
    -- age-encrypted, ASCII-armored: never the token itself.
    access_token  TEXT         NOT NULL,
    refresh_token TEXT         NULL,
    expires_at    TIMESTAMP(6) NOT NULL,
    scopes        LONGTEXT     NULL,
    created_at    TIMESTAMP(6) NOT NULL,
    updated_at    TIMESTAMP(6) NOT NULL,
    PRIMARY KEY (id),
    KEY numhub_tokens_tenant_id_index (tenant_id),
    KEY numhub_tokens_expires_at_index (expires_at),
    CONSTRAINT numhub_tokens_tenant_id_foreign FOREIGN KEY (tenant_id)
        REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT numhub_tokens_token_type_check CHECK (token_type IN ('access', 'refresh')),
    CONSTRAINT numhub_tokens_access_token_check
        CHECK (access_token LIKE '-----BEGIN AGE ENCRYPTED FILE-----%'),
    CONSTRAINT numhub_tokens_refresh_token_check
        CHECK (refresh_token LIKE '-----BEGIN AGE ENCRYPTED FILE-----%'),
    CONSTRAINT numhub_tokens_scopes_check CHECK (json_valid(scopes))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS numhub_entities (
    id                CHAR(36)     NOT NULL,
    tenant_id         BIGINT       NOT NULL,
    brand_id          BIGINT       NULL,
    -- Deviation from the seed: NULL until NumHub has assigned it, so an application can
    -- be accepted while NumHub is unreachable. Still unique: NULLs never collide.
    numhub_entity_id  VARCHAR(100) NULL,
    numhub_eid        VARCHAR(50)  NULL,
    entity_type       VARCHAR(20)  NOT NULL,
    company_name      VARCHAR(255) NOT NULL,
    status            VARCHAR(30)  NOT NULL,
    vetting_status    VARCHAR(30)  NOT NULL,
    attestation_level CHAR(1)      NULL,
    api_response      LONGTEXT     NULL,
    submitted_at      TIMESTAMP(6) NULL,
    approved_at       TIMESTAMP(6) NULL,
    created_at        TIMESTAMP(6) NOT NULL,
    updated_at        TIMESTAMP(6) NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY numhub_entities_numhub_entity_id_unique (numhub_entity_id),
    KEY numhub_entities_tenant_id_status_index (tenant_id, status),
    KEY numhub_entities_brand_id_index (brand_id),
    -- Keyset pages of a tenant's entities, all or of one status, in id (= age) order.
    KEY numhub_entities_tenant_id_id_index (tenant_id, id),
    KEY numhub_entities_tenant_id_status_id_index (tenant_id, status, id),
    CONSTRAINT numhub_entities_tenant_id_foreign FOREIGN KEY (tenant_id)
        REFERENCES tenants (id) ON DELETE RESTRICT,
    CONSTRAINT numhub_entities_brand_id_foreign FOREIGN KEY (brand_id)
        REFERENCES brands (id) ON DELETE SET NULL,
    CONSTRAINT numhub_entities_entity_type_check
        CHECK (entity_type IN ('enterprise', 'bpo', 'direct')),
    CONSTRAINT numhub_entities_company_name_check CHECK (CHAR_LENGTH(company_name) >= 1),
    CONSTRAINT numhub_entities_status_check
        CHECK (status IN ('draft', 'submitted', 'pending_vetting', 'approved', 'rejected')),
    CONSTRAINT numhub_entities_vetting_status_check
        CHECK (vetting_status IN ('pending', 'in_review', 'approved', 'rejected')),
    CONSTRAINT numhub_entities_attestation_level_check
        CHECK (attestation_level IN ('A', 'B', 'C')),
    CONSTRAINT numhub_entities_api_response_check CHECK (json_valid(api_response))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS numhub_identities (
    id                 CHAR(36)     NOT NULL,
    -- The local entity (uuid), as the seed says; NumHub's own id is on numhub_entities.
    numhub_entity_id   CHAR(36)     NOT NULL,
    numhub_identity_id VARCHAR(100) NOT NULL,
    display_name       VARCHAR(32)  NOT NULL,
    call_reason        VARCHAR(255) NULL,
    logo_url           VARCHAR(500) NULL,
    status             VARCHAR(20)  NOT NULL,
    rich_call_data     LONGTEXT     NULL,
    phone_numbers      LONGTEXT     NULL,
    created_at         TIMESTAMP(6) NOT NULL,
    updated_at         TIMESTAMP(6) NOT NULL,
    -- NumHub's dirId (SQLite's V7), and the identity as NumHub last answered it whole.
    dir_id             VARCHAR(100) NULL,
    api_response       LONGTEXT     NULL,
    PRIMARY KEY (id),
    UNIQUE KEY numhub_identities_numhub_identity_id_unique (numhub_identity_id),
    KEY numhub_identities_numhub_entity_id_status_index (numhub_entity_id, status),
    CONSTRAINT numhub_identities_numhub_entity_id_foreign FOREIGN KEY (numhub_entity_id)
        REFERENCES numhub_entities (id) ON DELETE CASCADE,
    CONSTRAINT numhub_identities_status_check
        CHECK (status IN ('active', 'inactive', 'pending')),
    CONSTRAINT numhub_identities_rich_call_data_check CHECK (json_valid(rich_call_data)),
    -- json_type only after json_valid: MySQL's json_type fails on text that is not JSON.
    -- Both servers spell the type in capitals.
    CONSTRAINT numhub_identities_phone_numbers_check
        CHECK (json_valid(phone_numbers) AND json_type(phone_numbers) = 'ARRAY'),
    CONSTRAINT numhub_identities_api_response_check CHECK (json_valid(api_response))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Not in the seed (it names the number list of a brand but does not define it).
CREATE TABLE IF NOT EXISTS brand_phone_numbers (
    id                 BIGINT       NOT NULL AUTO_INCREMENT,
    brand_id           BIGINT       NOT NULL,
    -- E.164: '+', a non-zero digit, at most 15 digits in all.
    phone_number       VARCHAR(16)  NOT NULL,
    -- The local identity (uuid) NumHub lists this number under, once it does.
    numhub_identity_id CHAR(36)     NULL,
    created_at         TIMESTAMP(6) NOT NULL,
    updated_at         TIMESTAMP(6) NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY brand_phone_numbers_brand_id_phone_number_unique (brand_id, phone_number),
    KEY brand_phone_numbers_numhub_identity_id_index (numhub_identity_id),
    CONSTRAINT brand_phone_numbers_brand_id_foreign FOREIGN KEY (brand_id)
        REFERENCES brands (id) ON DELETE CASCADE,
    CONSTRAINT brand_phone_numbers_numhub_identity_id_foreign FOREIGN KEY (numhub_identity_id)
        REFERENCES numhub_identities (id) ON DELETE SET NULL,
    CONSTRAINT brand_phone_numbers_phone_number_check CHECK (
        CHAR_LENGTH(phone_number) >= 3
        AND phone_number REGEXP '^[+][1-9]'
        AND SUBSTRING(phone_number, 2) NOT REGEXP '[^0-9]')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Not in the seed: the local file numhub_documents.local_document_id points at.
CREATE TABLE IF NOT EXISTS documents (
    id                BIGINT       NOT NULL AUTO_INCREMENT,
    tenant_id         BIGINT       NOT NULL,
    original_filename VARCHAR(255) NOT NULL,
    size_bytes        BIGINT       NOT NULL,
    sha256            CHAR(64)     NOT NULL,
    content_type      VARCHAR(100) NOT NULL,
    source            VARCHAR(20)  NOT NULL,
    source_path       TEXT         NOT NULL,
    created_at        TIMESTAMP(6) NOT NULL,
    updated_at        TIMESTAMP(6) NOT NULL,
    -- When a drop-folder file left its inbox (SQLite's V8); NULL for document.upload's.
    left_inbox_at     TIMESTAMP(6) NULL,
    PRIMARY KEY (id),
    KEY documents_tenant_id_index (tenant_id),
    KEY documents_sha256_index (sha256),
    CONSTRAINT documents_tenant_id_foreign FOREIGN KEY (tenant_id)
        REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT documents_original_filename_check CHECK (CHAR_LENGTH(original_filename) >= 1),
    CONSTRAINT documents_size_bytes_check CHECK (size_bytes >= 0),
    CONSTRAINT documents_sha256_check
        CHECK (CHAR_LENGTH(sha256) = 64 AND sha256 NOT REGEXP '[^0-9a-f]'),
    CONSTRAINT documents_content_type_check CHECK (content_type IN (
        'application/pdf', 'image/bmp', 'text/csv',
        'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet')),
    CONSTRAINT documents_source_check CHECK (source IN ('drop_folder', 'rpc'))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS numhub_documents (
    id                 CHAR(36)     NOT NULL,
    numhub_entity_id   CHAR(36)     NOT NULL,
    local_document_id  BIGINT       NULL,
    numhub_document_id VARCHAR(100) NULL,
    -- The seed's values plus 'logo': NumHub's LOGO type has its own format rule (BMP).
    document_type      VARCHAR(50)  NOT NULL,
    filename           VARCHAR(255) NOT NULL,
    status             VARCHAR(20)  NOT NULL,
    api_response       LONGTEXT     NULL,
    uploaded_at        TIMESTAMP(6) NULL,
    created_at         TIMESTAMP(6) NOT NULL,
    updated_at         TIMESTAMP(6) NOT NULL,
    PRIMARY KEY (id),
    KEY numhub_documents_numhub_entity_id_index (numhub_entity_id),
    KEY numhub_documents_local_document_id_index (local_document_id),
    KEY numhub_documents_status_index (status),
    CONSTRAINT numhub_documents_numhub_entity_id_foreign FOREIGN KEY (numhub_entity_id)
        REFERENCES numhub_entities (id) ON DELETE CASCADE,
    CONSTRAINT numhub_documents_local_document_id_foreign FOREIGN KEY (local_document_id)
        REFERENCES documents (id) ON DELETE SET NULL,
    CONSTRAINT numhub_documents_document_type_check CHECK (document_type IN (
        'loa', 'business_license', 'tax_id', 'other', 'logo')),
    CONSTRAINT numhub_documents_filename_check CHECK (CHAR_LENGTH(filename) >= 1),
    CONSTRAINT numhub_documents_status_check
        CHECK (status IN ('pending', 'uploaded', 'verified', 'rejected')),
    CONSTRAINT numhub_documents_api_response_check CHECK (json_valid(api_response))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE IF NOT EXISTS numhub_sync_logs (
    id                 CHAR(36)     NOT NULL,
    tenant_id          BIGINT       NULL,
    numhub_entity_id   CHAR(36)     NULL,
    numhub_identity_id CHAR(36)     NULL,
    endpoint           VARCHAR(255) NOT NULL,
    method             VARCHAR(10)  NOT NULL,
    direction          VARCHAR(10)  NOT NULL,
    status_code        SMALLINT     NULL,
    request_payload    LONGTEXT     NULL,
    response_payload   LONGTEXT     NULL,
    response_time_ms   INT          NULL,
    -- MEDIUMTEXT, not the seed's text: SQLite's TEXT has no limit, and TEXT's 64 KiB
    -- would make an over-long error refuse the very write that records it.
    error_message      MEDIUMTEXT   NULL,
    success            TINYINT(1)   NOT NULL,
    created_at         TIMESTAMP(6) NOT NULL,
    PRIMARY KEY (id),
    KEY numhub_sync_logs_tenant_id_created_at_index (tenant_id, created_at),
    KEY numhub_sync_logs_endpoint_success_index (endpoint, success),
    KEY numhub_sync_logs_created_at_index (created_at),
    -- Not on SQLite: InnoDB wants an index on every foreign key (it would make one
    -- named after the constraint); named here like the others.
    KEY numhub_sync_logs_numhub_entity_id_index (numhub_entity_id),
    KEY numhub_sync_logs_numhub_identity_id_index (numhub_identity_id),
    CONSTRAINT numhub_sync_logs_tenant_id_foreign FOREIGN KEY (tenant_id)
        REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT numhub_sync_logs_numhub_entity_id_foreign FOREIGN KEY (numhub_entity_id)
        REFERENCES numhub_entities (id) ON DELETE SET NULL,
    CONSTRAINT numhub_sync_logs_numhub_identity_id_foreign FOREIGN KEY (numhub_identity_id)
        REFERENCES numhub_identities (id) ON DELETE SET NULL,
    CONSTRAINT numhub_sync_logs_endpoint_check CHECK (CHAR_LENGTH(endpoint) >= 1),
    CONSTRAINT numhub_sync_logs_method_check CHECK (method IN ('GET', 'POST', 'PUT', 'DELETE')),
    CONSTRAINT numhub_sync_logs_direction_check CHECK (direction IN ('outbound', 'inbound')),
    CONSTRAINT numhub_sync_logs_status_code_check CHECK (status_code BETWEEN 100 AND 599),
    CONSTRAINT numhub_sync_logs_request_payload_check CHECK (json_valid(request_payload)),
    CONSTRAINT numhub_sync_logs_response_payload_check CHECK (json_valid(response_payload)),
    CONSTRAINT numhub_sync_logs_response_time_ms_check CHECK (response_time_ms >= 0),
    CONSTRAINT numhub_sync_logs_success_check CHECK (success IN (0, 1))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The durable outbox, in SQLite's V4 form (state 'waiting', resume_since). A local change
-- NumHub must see is written together with its job in one transaction. The payload never
-- holds a secret. AUTO_INCREMENT keeps its high-water mark across restarts on both
-- servers (MySQL 8.0, MariaDB 10.2.4+), so a purged job's id is never handed out again.
CREATE TABLE IF NOT EXISTS jobs (
    id              BIGINT      NOT NULL AUTO_INCREMENT,
    tenant_id       BIGINT      NOT NULL,
    kind            VARCHAR(32) NOT NULL,
    -- Local ids of what the job acts on (entity_id / identity_id / document_id at the edge).
    entity_id       CHAR(36)    NULL,
    identity_id     CHAR(36)    NULL,
    document_id     CHAR(36)    NULL,
    -- What the kind needs to be carried out (db::jobs::JobPayload); never a secret.
    payload         LONGTEXT    NOT NULL,
    -- See migrations/sqlite/V4__typed_outbox.sql for what each state means.
    state           VARCHAR(20) NOT NULL DEFAULT 'queued',
    attempts        INT         NOT NULL DEFAULT 0,
    next_attempt_at DATETIME(6) NOT NULL,
    -- When the current (or last) attempt began.
    started_at      DATETIME(6) NULL,
    -- The start of the earliest attempt a crash interrupted (NULL: none was).
    resume_since    DATETIME(6) NULL,
    -- MEDIUMTEXT: as numhub_sync_logs.error_message, an error must always fit.
    last_error      MEDIUMTEXT  NULL,
    created_at      DATETIME(6) NOT NULL,
    updated_at      DATETIME(6) NOT NULL,
    PRIMARY KEY (id),
    KEY jobs_state_next_attempt_at_index (state, next_attempt_at),
    KEY jobs_entity_id_index (entity_id),
    KEY jobs_tenant_id_state_index (tenant_id, state),
    KEY jobs_identity_id_index (identity_id),
    KEY jobs_document_id_index (document_id),
    CONSTRAINT jobs_tenant_id_foreign FOREIGN KEY (tenant_id)
        REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT jobs_entity_id_foreign FOREIGN KEY (entity_id)
        REFERENCES numhub_entities (id) ON DELETE CASCADE,
    CONSTRAINT jobs_identity_id_foreign FOREIGN KEY (identity_id)
        REFERENCES numhub_identities (id) ON DELETE CASCADE,
    CONSTRAINT jobs_document_id_foreign FOREIGN KEY (document_id)
        REFERENCES numhub_documents (id) ON DELETE CASCADE,
    CONSTRAINT jobs_kind_check CHECK (kind IN (
        'entity.create', 'entity.update', 'entity.submit',
        'document.upload', 'document.delete',
        'identity.update', 'identity.deactivate',
        'identity.numbers.add', 'identity.numbers.remove')),
    CONSTRAINT jobs_payload_check CHECK (json_valid(payload)),
    CONSTRAINT jobs_state_check CHECK (state IN (
        'queued', 'running', 'failed', 'waiting', 'done', 'dead', 'needs_attention')),
    CONSTRAINT jobs_attempts_check CHECK (attempts >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Per-tenant NumHub logins, set over the RPC (write-only). age-encrypted like tokens.
CREATE TABLE IF NOT EXISTS numhub_credentials (
    id               BIGINT      NOT NULL AUTO_INCREMENT,
    tenant_id        BIGINT      NOT NULL,
    email_armored    TEXT        NOT NULL,
    password_armored TEXT        NOT NULL,
    created_at       DATETIME(6) NOT NULL,
    updated_at       DATETIME(6) NOT NULL,
    PRIMARY KEY (id),
    UNIQUE KEY numhub_credentials_tenant_id_unique (tenant_id),
    CONSTRAINT numhub_credentials_tenant_id_foreign FOREIGN KEY (tenant_id)
        REFERENCES tenants (id) ON DELETE CASCADE,
    CONSTRAINT numhub_credentials_email_armored_check
        CHECK (email_armored LIKE '-----BEGIN AGE ENCRYPTED FILE-----%'),
    CONSTRAINT numhub_credentials_password_armored_check
        CHECK (password_armored LIKE '-----BEGIN AGE ENCRYPTED FILE-----%')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A login NumHub rejected: no further attempt for that account until its credentials
-- change or an operator retries (see migrations/sqlite/V2__jobs_and_credentials.sql).
CREATE TABLE IF NOT EXISTS numhub_login_blocks (
    -- 'global' or 'tenant:<id>' (an int64 id: at most 27 characters).
    account             VARCHAR(64) NOT NULL,
    reason              MEDIUMTEXT  NOT NULL,
    status_code         SMALLINT    NULL,
    credentials_armored TEXT        NOT NULL,
    blocked_at          DATETIME(6) NOT NULL,
    PRIMARY KEY (account),
    CONSTRAINT numhub_login_blocks_account_check CHECK (
        account = 'global'
        OR (account REGEXP '^tenant:[0-9]' AND SUBSTRING(account, 8) NOT REGEXP '[^0-9]')),
    CONSTRAINT numhub_login_blocks_status_code_check CHECK (status_code BETWEEN 100 AND 599),
    CONSTRAINT numhub_login_blocks_credentials_armored_check
        CHECK (credentials_armored LIKE '-----BEGIN AGE ENCRYPTED FILE-----%')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Which NumHub this database talks to: one row (see
-- migrations/sqlite/V5__numhub_origin.sql).
CREATE TABLE IF NOT EXISTS numhub_origin (
    id          TINYINT       NOT NULL,
    origin      VARCHAR(2048) NOT NULL,
    recorded_at DATETIME(6)   NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT numhub_origin_id_check CHECK (id = 1),
    CONSTRAINT numhub_origin_origin_check CHECK (
        origin = 'sandbox' OR origin LIKE 'http://%' OR origin LIKE 'https://%')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The mark of a backup copy: one row, only ever in a copy (see
-- migrations/sqlite/V6__backup_marker.sql).
CREATE TABLE IF NOT EXISTS backup_marker (
    id          TINYINT       NOT NULL,
    taken_at    DATETIME(6)   NOT NULL,
    source_path VARCHAR(4096) NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT backup_marker_id_check CHECK (id = 1),
    CONSTRAINT backup_marker_source_path_check CHECK (CHAR_LENGTH(source_path) >= 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- NumHub's review of an application while it is flagged: one row per application under
-- review (see migrations/sqlite/V7__numhub_fidelity.sql).
CREATE TABLE IF NOT EXISTS numhub_reviews (
    -- The local entity (uuid), as the seed's child tables name it.
    numhub_entity_id CHAR(36)      NOT NULL,
    message          VARCHAR(2000) NULL,
    flagged_comments LONGTEXT      NOT NULL,
    -- When this set of comments was first seen (a new set is a new flag).
    flagged_at       DATETIME(6)   NOT NULL,
    updated_at       DATETIME(6)   NOT NULL,
    PRIMARY KEY (numhub_entity_id),
    CONSTRAINT numhub_reviews_numhub_entity_id_foreign FOREIGN KEY (numhub_entity_id)
        REFERENCES numhub_entities (id) ON DELETE CASCADE,
    CONSTRAINT numhub_reviews_flagged_comments_check
        CHECK (json_valid(flagged_comments) AND json_type(flagged_comments) = 'ARRAY')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Not on SQLite: the engine's own tables.
--
-- One row written inside each write transaction. When a COMMIT's answer is lost (the
-- connection dropped while it was in flight), numhubd looks its marker up on a new
-- connection: present, the transaction committed; absent, it did not. The index on
-- committed_at is for pruning markers old enough that no answer can still be pending.
CREATE TABLE IF NOT EXISTS numhubd_commits (
    marker       CHAR(36)    NOT NULL,
    committed_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (marker),
    KEY numhubd_commits_committed_at_index (committed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Who holds this database: one daemon per database, as the lock file is on SQLite. A
-- second `numhubd serve` is refused naming the holder's host and pid.
CREATE TABLE IF NOT EXISTS numhubd_instance (
    id         TINYINT      NOT NULL,
    host       VARCHAR(255) NOT NULL,
    pid        INT          NOT NULL,
    started_at DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    CONSTRAINT numhubd_instance_id_check CHECK (id = 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
