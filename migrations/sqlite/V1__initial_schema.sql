-- V1: the integration schema of seed/NUMHUB-DATABASE-SCHEMA.md, as a SQLite replica.
--
-- Conventions (why, not what):
-- * STRICT tables, so a wrong type is refused instead of silently coerced. The seed's
--   SQL types map onto SQLite's storage classes: bigint/int/smallint/boolean -> INTEGER,
--   varchar/char/text/uuid/json/timestamp -> TEXT. varchar(n) lengths are CHECKs.
-- * uuid columns hold uuid v7 in canonical lower-case text form (sortable by creation).
-- * timestamps are UTC RFC 3339 text with a trailing Z ('2026-11-25T07:02:03.123456Z'),
--   so they sort as text and every reader sees one timezone.
-- * Enumerations and JSON columns are CHECKs: bad data never reaches the file.
-- * ON DELETE is chosen per relation; docs/ARCHITECTURE.md lists each choice and why.

CREATE TABLE tenants (
    id               INTEGER PRIMARY KEY,
    name             TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    email            TEXT    CHECK (email IS NULL OR length(email) <= 255),
    slug             TEXT    CHECK (slug IS NULL OR length(slug) <= 255),
    -- NumHub's client-id header is an int32: anything else could never be sent.
    numhub_client_id TEXT    CHECK (numhub_client_id IS NULL OR (length(numhub_client_id) <= 100
                               AND numhub_client_id GLOB '[0-9]*' AND numhub_client_id NOT GLOB '*[^0-9]*'
                               AND CAST(numhub_client_id AS INTEGER) BETWEEN 0 AND 2147483647)),
    numhub_osp_id    TEXT    CHECK (numhub_osp_id IS NULL OR length(numhub_osp_id) <= 100),
    numhub_enabled   INTEGER NOT NULL DEFAULT 0 CHECK (numhub_enabled IN (0, 1)),
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
) STRICT;
CREATE UNIQUE INDEX tenants_slug_unique ON tenants (slug) WHERE slug IS NOT NULL;

CREATE TABLE brands (
    id               INTEGER PRIMARY KEY,
    tenant_id        INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name             TEXT    NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    display_name     TEXT    CHECK (display_name IS NULL OR length(display_name) <= 32),
    -- NumHub's id of the application this brand maps to (NULL until NumHub assigned one).
    numhub_entity_id TEXT    REFERENCES numhub_entities (numhub_entity_id)
                               ON DELETE SET NULL ON UPDATE CASCADE,
    created_at       TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
) STRICT;
CREATE INDEX brands_tenant_id_index ON brands (tenant_id);
CREATE INDEX brands_numhub_entity_id_index ON brands (numhub_entity_id);

CREATE TABLE numhub_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id     INTEGER REFERENCES tenants (id) ON DELETE CASCADE,
    token_type    TEXT    NOT NULL CHECK (token_type IN ('access', 'refresh')),
    -- age-encrypted, ASCII-armored: never the token itself.
    access_token  TEXT    NOT NULL CHECK (access_token LIKE '-----BEGIN AGE ENCRYPTED FILE-----%'),
    refresh_token TEXT    CHECK (refresh_token IS NULL OR refresh_token LIKE '-----BEGIN AGE ENCRYPTED FILE-----%'),
    expires_at    TEXT    NOT NULL,
    scopes        TEXT    CHECK (scopes IS NULL OR json_valid(scopes)),
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
) STRICT;
CREATE INDEX numhub_tokens_tenant_id_index ON numhub_tokens (tenant_id);
CREATE INDEX numhub_tokens_expires_at_index ON numhub_tokens (expires_at);

CREATE TABLE numhub_entities (
    id                TEXT    PRIMARY KEY NOT NULL,
    tenant_id         INTEGER NOT NULL REFERENCES tenants (id) ON DELETE RESTRICT,
    brand_id          INTEGER REFERENCES brands (id) ON DELETE SET NULL,
    -- Deviation: NULL until NumHub has assigned it, so an application can be accepted
    -- while NumHub is unreachable. Still UNIQUE (SQLite allows many NULLs).
    numhub_entity_id  TEXT    UNIQUE CHECK (numhub_entity_id IS NULL OR length(numhub_entity_id) <= 100),
    numhub_eid        TEXT    CHECK (numhub_eid IS NULL OR length(numhub_eid) <= 50),
    entity_type       TEXT    NOT NULL CHECK (entity_type IN ('enterprise', 'bpo', 'direct')),
    company_name      TEXT    NOT NULL CHECK (length(company_name) BETWEEN 1 AND 255),
    status            TEXT    NOT NULL CHECK (status IN ('draft', 'submitted', 'pending_vetting', 'approved', 'rejected')),
    vetting_status    TEXT    NOT NULL CHECK (vetting_status IN ('pending', 'in_review', 'approved', 'rejected')),
    attestation_level TEXT    CHECK (attestation_level IS NULL OR attestation_level IN ('A', 'B', 'C')),
    api_response      TEXT    CHECK (api_response IS NULL OR json_valid(api_response)),
    submitted_at      TEXT,
    approved_at       TEXT,
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL
) STRICT;
CREATE INDEX numhub_entities_tenant_id_status_index ON numhub_entities (tenant_id, status);
CREATE INDEX numhub_entities_brand_id_index ON numhub_entities (brand_id);
-- Keyset pages of a tenant's entities, all or of one status, in id (= age) order.
CREATE INDEX numhub_entities_tenant_id_id_index ON numhub_entities (tenant_id, id);
CREATE INDEX numhub_entities_tenant_id_status_id_index ON numhub_entities (tenant_id, status, id);

CREATE TABLE numhub_identities (
    id                 TEXT PRIMARY KEY NOT NULL,
    -- The local entity (uuid), as the seed says; NumHub's own id is on numhub_entities.
    numhub_entity_id   TEXT NOT NULL REFERENCES numhub_entities (id) ON DELETE CASCADE,
    numhub_identity_id TEXT NOT NULL UNIQUE CHECK (length(numhub_identity_id) <= 100),
    display_name       TEXT NOT NULL CHECK (length(display_name) <= 32),
    call_reason        TEXT CHECK (call_reason IS NULL OR length(call_reason) <= 255),
    logo_url           TEXT CHECK (logo_url IS NULL OR length(logo_url) <= 500),
    status             TEXT NOT NULL CHECK (status IN ('active', 'inactive', 'pending')),
    rich_call_data     TEXT CHECK (rich_call_data IS NULL OR json_valid(rich_call_data)),
    phone_numbers      TEXT CHECK (phone_numbers IS NULL OR (json_valid(phone_numbers) AND json_type(phone_numbers) = 'array')),
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
) STRICT;
CREATE INDEX numhub_identities_numhub_entity_id_status_index ON numhub_identities (numhub_entity_id, status);

-- Not in the seed (it names the number list of a brand but does not define it).
CREATE TABLE brand_phone_numbers (
    id                 INTEGER PRIMARY KEY,
    brand_id           INTEGER NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
    -- E.164: '+', a non-zero digit, at most 15 digits in all.
    phone_number       TEXT    NOT NULL CHECK (length(phone_number) BETWEEN 3 AND 16
                                 AND phone_number GLOB '+[1-9]*' AND substr(phone_number, 2) NOT GLOB '*[^0-9]*'),
    -- The local identity (uuid) NumHub lists this number under, once it does.
    numhub_identity_id TEXT    REFERENCES numhub_identities (id) ON DELETE SET NULL,
    created_at         TEXT    NOT NULL,
    updated_at         TEXT    NOT NULL,
    UNIQUE (brand_id, phone_number)
) STRICT;
CREATE INDEX brand_phone_numbers_numhub_identity_id_index ON brand_phone_numbers (numhub_identity_id);

-- Not in the seed: the local file numhub_documents.local_document_id points at.
CREATE TABLE documents (
    id                INTEGER PRIMARY KEY,
    tenant_id         INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    original_filename TEXT    NOT NULL CHECK (length(original_filename) BETWEEN 1 AND 255),
    size_bytes        INTEGER NOT NULL CHECK (size_bytes >= 0),
    sha256            TEXT    NOT NULL CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
    content_type      TEXT    NOT NULL CHECK (content_type IN ('application/pdf', 'image/bmp', 'text/csv',
                                'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet')),
    source            TEXT    NOT NULL CHECK (source IN ('drop_folder', 'rpc')),
    source_path       TEXT    NOT NULL,
    created_at        TEXT    NOT NULL,
    updated_at        TEXT    NOT NULL
) STRICT;
CREATE INDEX documents_tenant_id_index ON documents (tenant_id);
CREATE INDEX documents_sha256_index ON documents (sha256);

CREATE TABLE numhub_documents (
    id                 TEXT PRIMARY KEY NOT NULL,
    numhub_entity_id   TEXT NOT NULL REFERENCES numhub_entities (id) ON DELETE CASCADE,
    local_document_id  INTEGER REFERENCES documents (id) ON DELETE SET NULL,
    numhub_document_id TEXT CHECK (numhub_document_id IS NULL OR length(numhub_document_id) <= 100),
    -- The seed's values plus 'logo': NumHub's LOGO type has its own format rule (BMP).
    document_type      TEXT NOT NULL CHECK (document_type IN ('loa', 'business_license', 'tax_id', 'other', 'logo')),
    filename           TEXT NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
    status             TEXT NOT NULL CHECK (status IN ('pending', 'uploaded', 'verified', 'rejected')),
    api_response       TEXT CHECK (api_response IS NULL OR json_valid(api_response)),
    uploaded_at        TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
) STRICT;
CREATE INDEX numhub_documents_numhub_entity_id_index ON numhub_documents (numhub_entity_id);
CREATE INDEX numhub_documents_local_document_id_index ON numhub_documents (local_document_id);
CREATE INDEX numhub_documents_status_index ON numhub_documents (status);

CREATE TABLE numhub_sync_logs (
    id                 TEXT    PRIMARY KEY NOT NULL,
    tenant_id          INTEGER REFERENCES tenants (id) ON DELETE CASCADE,
    numhub_entity_id   TEXT    REFERENCES numhub_entities (id) ON DELETE SET NULL,
    numhub_identity_id TEXT    REFERENCES numhub_identities (id) ON DELETE SET NULL,
    endpoint           TEXT    NOT NULL CHECK (length(endpoint) BETWEEN 1 AND 255),
    method             TEXT    NOT NULL CHECK (method IN ('GET', 'POST', 'PUT', 'DELETE')),
    direction          TEXT    NOT NULL CHECK (direction IN ('outbound', 'inbound')),
    status_code        INTEGER CHECK (status_code IS NULL OR status_code BETWEEN 100 AND 599),
    request_payload    TEXT    CHECK (request_payload IS NULL OR json_valid(request_payload)),
    response_payload   TEXT    CHECK (response_payload IS NULL OR json_valid(response_payload)),
    response_time_ms   INTEGER CHECK (response_time_ms IS NULL OR response_time_ms >= 0),
    error_message      TEXT,
    success            INTEGER NOT NULL CHECK (success IN (0, 1)),
    created_at         TEXT    NOT NULL
) STRICT;
CREATE INDEX numhub_sync_logs_tenant_id_created_at_index ON numhub_sync_logs (tenant_id, created_at);
CREATE INDEX numhub_sync_logs_endpoint_success_index ON numhub_sync_logs (endpoint, success);
CREATE INDEX numhub_sync_logs_created_at_index ON numhub_sync_logs (created_at);
