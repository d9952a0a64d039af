#!/usr/bin/env bash
# Checks migrations/mysql/V8__schema.sql against a running MariaDB 10.6+ / MySQL 8.0.23+
# server, with the `mariadb` (or `mysql`) client:
#   tests/data/mysql-schema-check.sh SOCKET
# (user root or $MYSQL_USER, password from $MYSQL_PWD if any; a throwaway server as in
# tests/it/mariadb_support.rs starts will do). It creates and drops two databases of its own,
# numhubd_schema_check_a and _b, in the session numhubd runs with, and checks:
#   1. the file runs on a fresh utf8mb4 database, and a second run changes nothing;
#   2. after a failure at any statement (every prefix of the file), the whole file
#      still completes to the same schema;
#   3. table and column names, column order, nullability and indexes match the SQLite
#      schema of migrations/sqlite/V*.sql (needs sqlite3; skipped without it unless CI=true);
#   4. no TIMESTAMP got an implicit DEFAULT / ON UPDATE (explicit_defaults_for_timestamp);
#   5. one valid row per table goes in and reads back as written (JSON bytes, micro-
#      seconds, a 4-byte character), and the file run again keeps every row;
#   6. invalid rows are refused, each by the constraint (or column) that should;
#   7. ON DELETE / ON UPDATE actions do what SQLite's do;
# and prints SHOW CREATE TABLE for every table. Exit status 1 on any failure.
set -uo pipefail

SOCKET=${1:?usage: $0 SOCKET, a MariaDB or MySQL Unix socket}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
SCHEMA=${NUMHUBD_MYSQL_SCHEMA:-$ROOT/migrations/mysql/V8__schema.sql}
CLIENT=$(command -v mariadb || command -v mysql) || {
    echo "mysql-schema-check: neither mariadb nor mysql client found" >&2
    exit 1
}
DB=numhubd_schema_check_a
DB2=numhubd_schema_check_b
# The session numhubd opens (the lead's engine code sets the same).
SESSION="SET SESSION sql_mode='STRICT_ALL_TABLES,PIPES_AS_CONCAT,ANSI_QUOTES,NO_ZERO_DATE,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION', time_zone='+00:00', explicit_defaults_for_timestamp=ON;"

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# q DB SQL: runs SQL in DB in numhubd's session; rows tab-separated, no header.
q() {
    "$CLIENT" --socket="$SOCKET" -u"${MYSQL_USER:-root}" --default-character-set=utf8mb4 \
        --batch --skip-column-names --raw "$1" -e "$SESSION $2"
}

# run_sql DB: runs stdin as a script in DB in numhubd's session. --comments: the server
# gets the comments too, as from numhubd (the client would strip them).
run_sql() {
    { printf '%s\n' "$SESSION"; cat; } |
        "$CLIENT" --socket="$SOCKET" -u"${MYSQL_USER:-root}" --default-character-set=utf8mb4 \
            --comments "$1"
}

fresh_db() {
    q mysql "DROP DATABASE IF EXISTS $1; CREATE DATABASE $1 CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"
}

# The number of statements in the schema file: a statement ends at a line (not a
# comment) ending with ';'.
statement_count() {
    awk '!/^[[:space:]]*--/ && /;[[:space:]]*$/ { n++ } END { print n }' "$SCHEMA"
}

# first_statements K: the file up to the end of its K-th statement.
first_statements() {
    awk -v k="$1" '{ print } !/^[[:space:]]*--/ && /;[[:space:]]*$/ { if (++n == k) exit }' "$SCHEMA"
}

# snapshot DB: every table's SHOW CREATE TABLE, in name order.
snapshot() {
    local t
    for t in $(q "$1" "SHOW TABLES" | sort); do
        q "$1" "SHOW CREATE TABLE $t"
    done
}

# accept LABEL SQL: SQL must succeed.
accept() {
    local err
    if err=$(q "$DB" "$2" 2>&1 >/dev/null); then
        echo "ok       $1"
    else
        fail "$1 was refused: $(grep -m1 ERROR <<<"$err")"
    fi
}

# refuse LABEL WANT SQL: SQL must fail with an error naming WANT (a constraint, key or
# column). MariaDB says "CONSTRAINT `x` failed", MySQL "Check constraint 'x' is violated".
refuse() {
    local err
    if err=$(q "$DB" "$3" 2>&1 >/dev/null); then
        fail "$1 was accepted"
    elif [[ $err != *"$2"* ]]; then
        fail "$1 was refused, but not by $2: $(grep -m1 ERROR <<<"$err")"
    else
        echo "refused  $1 ($2)"
    fi
}

# expect LABEL WANT SQL: SQL's output must be exactly WANT.
expect() {
    local got
    got=$(q "$DB" "$3" 2>&1)
    if [[ $got == "$2" ]]; then
        echo "ok       $1"
    else
        fail "$1: expected [$2], got [$got]"
    fi
}

cleanup() { q mysql "DROP DATABASE IF EXISTS $DB; DROP DATABASE IF EXISTS $DB2" >/dev/null 2>&1; }
trap cleanup EXIT

echo "== server: $(q mysql 'SELECT VERSION()')"

echo "== 1. the file on a fresh database, then again"
fresh_db "$DB" || exit 1
run_sql "$DB" <"$SCHEMA" || { fail "the schema file failed on a fresh database"; exit 1; }
first=$(snapshot "$DB")
run_sql "$DB" <"$SCHEMA" || fail "the schema file failed on its second run"
[[ $(snapshot "$DB") == "$first" ]] && echo "ok       a second run changes nothing" ||
    fail "a second run changed the schema"
tables=$(q "$DB" "SHOW TABLES" | sort)
[[ $(wc -l <<<"$tables") -eq 17 ]] || fail "expected 17 tables, got: $tables"

echo "== 2. a failure after any statement, then the whole file"
n=$(statement_count)
for k in $(seq 1 $((n - 1))); do
    fresh_db "$DB2" || exit 1
    if ! first_statements "$k" | run_sql "$DB2"; then
        fail "the first $k statements failed"
    elif ! run_sql "$DB2" <"$SCHEMA"; then
        fail "the whole file failed after its first $k statements had run"
    elif [[ $(snapshot "$DB2") != "$first" ]]; then
        fail "the first $k statements, then the whole file: another schema"
    fi
done
echo "ok       each of the $((n - 1)) prefixes of the $n statements, then the whole file: the same schema"

echo "== 3. names, column order, nullability and indexes as on SQLite"
if command -v sqlite3 >/dev/null; then
    lite=$(mktemp -d)
    migrations=("$ROOT"/migrations/sqlite/V*.sql)
    [[ -f ${migrations[0]} ]] || fail "no SQLite migrations in $ROOT/migrations/sqlite"
    for f in "${migrations[@]}"; do
        sqlite3 "$lite/db" <"$f" || fail "SQLite migration $f failed"
    done
    # A column: table|name|nullable|primary key (an INTEGER PRIMARY KEY is NOT NULL).
    sqlite_cols=$(sqlite3 -separator '|' "$lite/db" "
        SELECT m.name, p.name, CASE WHEN p.\"notnull\" = 1 OR p.pk > 0 THEN 'NO' ELSE 'YES' END,
               CASE WHEN p.pk > 0 THEN 'PRI' ELSE '' END
        FROM sqlite_master m, pragma_table_info(m.name) p
        WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' ORDER BY m.name, p.cid")
    # An index other than the primary key: table|unique|columns. SQLite's expression
    # index is the generated column here.
    sqlite_idx=$(sqlite3 -separator '|' "$lite/db" "
        SELECT m.name, il.\"unique\",
               (SELECT group_concat(coalesce(ii.name, 'numhub_client_id_canonical'), ',')
                  FROM (SELECT * FROM pragma_index_info(il.name) ORDER BY seqno) ii)
        FROM sqlite_master m, pragma_index_list(m.name) il
        WHERE m.type = 'table' AND il.origin <> 'pk' ORDER BY 1, 3" | sort)
    sqlite_named=$(sqlite3 "$lite/db" "SELECT name FROM sqlite_master
        WHERE type = 'index' AND name NOT LIKE 'sqlite_%' ORDER BY name")
    rm -rf "$lite"
    my_cols=$(q "$DB" "
        SELECT CONCAT_WS('|', table_name, column_name, is_nullable, IF(column_key = 'PRI', 'PRI', ''))
        FROM information_schema.columns
        WHERE table_schema = DATABASE() AND table_name NOT LIKE 'numhubd\\_%'
          AND UPPER(extra) NOT LIKE '%INVISIBLE%'
        ORDER BY CAST(table_name AS BINARY), ordinal_position")
    my_idx=$(q "$DB" "
        SELECT CONCAT_WS('|', table_name, 1 - non_unique,
                         GROUP_CONCAT(column_name ORDER BY seq_in_index SEPARATOR ','))
        FROM information_schema.statistics
        WHERE table_schema = DATABASE() AND table_name NOT LIKE 'numhubd\\_%'
          AND index_name <> 'PRIMARY'
        GROUP BY table_name, index_name, non_unique" | sort)
    my_named=$(q "$DB" "SELECT DISTINCT index_name FROM information_schema.statistics
        WHERE table_schema = DATABASE()")
    if [[ $my_cols == "$sqlite_cols" ]]; then
        echo "ok       $(wc -l <<<"$my_cols") columns: names, order, nullability, primary keys"
    else
        fail "columns differ from SQLite's (< SQLite, > MySQL):"
        diff <(echo "$sqlite_cols") <(echo "$my_cols") >&2
    fi
    # InnoDB wants an index on each foreign key; these two SQLite does without.
    extra=$'numhub_sync_logs|0|numhub_entity_id\nnumhub_sync_logs|0|numhub_identity_id'
    if [[ $my_idx == "$(sort <<<"$sqlite_idx"$'\n'"$extra")" ]]; then
        echo "ok       indexes: SQLite's, plus the two on numhub_sync_logs' foreign keys"
    else
        fail "indexes differ from SQLite's (< SQLite + the two expected, > MySQL):"
        diff <(sort <<<"$sqlite_idx"$'\n'"$extra") <(echo "$my_idx") >&2
    fi
    missing=$(comm -23 <(sort <<<"$sqlite_named") <(sort <<<"$my_named"))
    [[ -z $missing ]] && echo "ok       every named SQLite index has its name here" ||
        fail "SQLite's index names missing here: $missing"
elif [[ ${CI:-} == true ]]; then
    fail "sqlite3 not found (CI=true: the comparison with SQLite must run)"
else
    echo "skipped  sqlite3 not found: no comparison with the SQLite schema"
fi

echo "== 4. TIMESTAMP columns without implicit defaults"
all_tables=$(snapshot "$DB")
on_update=$(grep -ic 'on update current_timestamp' <<<"$all_tables")
time_defaults=$(grep -ic "default current_timestamp\|default '0000" <<<"$all_tables")
commits_default=$(q "$DB" "SHOW CREATE TABLE numhubd_commits" | grep -ic 'default current_timestamp(6)')
if [[ $on_update -eq 0 && $time_defaults -eq 1 && $commits_default -eq 1 ]]; then
    echo "ok       only numhubd_commits.committed_at has a time default, none an ON UPDATE"
else
    fail "a TIMESTAMP got an implicit DEFAULT or ON UPDATE (is explicit_defaults_for_timestamp ON?)"
fi

echo "== 5. one valid row per table"
T="'2026-11-25 07:02:03.123456'"
AGE="'-----BEGIN AGE ENCRYPTED FILE-----\nYWdlLWVuY3J5cHRpb24ub3JnL3Yx\n-----END AGE ENCRYPTED FILE-----\n'"
E1="'019ab3c4-0000-7000-8000-000000000001'"
I1="'019ab3c4-0000-7000-8000-000000000002'"
D1="'019ab3c4-0000-7000-8000-000000000003'"
L1="'019ab3c4-0000-7000-8000-000000000004'"
NAME='Acme Telecom 🚀'
API='{"b": 1,  "a": [2, {"z": null}], "é": "x"}'
SHA=$(printf 'loa' | sha256sum | cut -c1-64)
accept "tenants" "INSERT INTO tenants (id, name, email, slug, numhub_client_id, numhub_osp_id,
    numhub_enabled, created_at, updated_at)
    VALUES (1, '$NAME', 'ops@acme.test', 'acme', '5', 'osp-1', 1, $T, $T)"
accept "tenants: two without slug or client id (NULLs never collide)" \
    "INSERT INTO tenants (id, name, created_at, updated_at) VALUES (2, 'B', $T, $T), (3, 'C', $T, $T)"
accept "tenants: a client id with leading zeros, at the int32 limit" \
    "INSERT INTO tenants (id, name, numhub_client_id, created_at, updated_at)
     VALUES (4, 'D', '00000000000000000002147483647', $T, $T)"
accept "tenants: slug differing only in case (compared byte-wise)" \
    "INSERT INTO tenants (id, name, slug, created_at, updated_at) VALUES (5, 'E', 'ACME', $T, $T)"
accept "brands" "INSERT INTO brands (tenant_id, name, display_name, created_at, updated_at)
    VALUES (1, 'Acme', 'ACME', $T, $T)"
accept "numhub_tokens" "INSERT INTO numhub_tokens (tenant_id, token_type, access_token,
    refresh_token, expires_at, scopes, created_at, updated_at)
    VALUES (1, 'access', $AGE, $AGE, $T, '{\"userClients\": [{\"client_id\": 5}]}', $T, $T)"
accept "numhub_entities" "INSERT INTO numhub_entities (id, tenant_id, brand_id, numhub_entity_id,
    numhub_eid, entity_type, company_name, status, vetting_status, attestation_level,
    api_response, submitted_at, approved_at, created_at, updated_at)
    VALUES ($E1, 1, 1, 'NH-1', NULL, 'enterprise', '$NAME', 'submitted', 'pending', 'A',
            '$API', $T, NULL, $T, $T)"
accept "numhub_entities: one without NumHub's id yet" \
    "INSERT INTO numhub_entities (id, tenant_id, entity_type, company_name, status,
     vetting_status, created_at, updated_at)
     VALUES ('019ab3c4-0000-7000-8000-000000000009', 2, 'bpo', 'B', 'draft', 'pending', $T, $T)"
accept "brands.numhub_entity_id -> numhub_entities (the forward reference)" \
    "UPDATE brands SET numhub_entity_id = 'NH-1' WHERE id = 1"
accept "numhub_identities" "INSERT INTO numhub_identities (id, numhub_entity_id,
    numhub_identity_id, display_name, call_reason, logo_url, status, rich_call_data,
    phone_numbers, created_at, updated_at, dir_id, api_response)
    VALUES ($I1, $E1, 'NHI-1', 'ACME', 'Support', 'https://acme.test/logo.bmp', 'pending',
            NULL, '[\"+15555550100\"]', $T, $T, 'dir-1', '{\"isFeeChecked\": false}')"
accept "brand_phone_numbers" "INSERT INTO brand_phone_numbers (brand_id, phone_number,
    numhub_identity_id, created_at, updated_at) VALUES (1, '+15555550100', $I1, $T, $T)"
accept "documents" "INSERT INTO documents (tenant_id, original_filename, size_bytes, sha256,
    content_type, source, source_path, created_at, updated_at, left_inbox_at)
    VALUES (1, 'loa.pdf', 1234, '$SHA', 'application/pdf', 'drop_folder',
            '/var/lib/numhubd/drop/acme/loa.pdf', $T, $T, NULL)"
accept "numhub_documents" "INSERT INTO numhub_documents (id, numhub_entity_id, local_document_id,
    numhub_document_id, document_type, filename, status, api_response, uploaded_at,
    created_at, updated_at)
    VALUES ($D1, $E1, 1, NULL, 'loa', 'loa.pdf', 'pending', NULL, NULL, $T, $T)"
accept "numhub_sync_logs" "INSERT INTO numhub_sync_logs (id, tenant_id, numhub_entity_id,
    numhub_identity_id, endpoint, method, direction, status_code, request_payload,
    response_payload, response_time_ms, error_message, success, created_at)
    VALUES ($L1, 1, $E1, $I1, '/api/v1/application', 'POST', 'outbound', 201, '{}',
            '{\"id\": \"NH-1\"}', 120, NULL, 1, $T)"
accept "jobs (state and attempts by default)" "INSERT INTO jobs (tenant_id, kind, entity_id,
    identity_id, document_id, payload, next_attempt_at, started_at, resume_since, last_error,
    created_at, updated_at)
    VALUES (1, 'entity.create', $E1, NULL, NULL, '{\"submit\": true}', $T, NULL, NULL, NULL, $T, $T)"
accept "jobs: an identity's and a document's" "INSERT INTO jobs (tenant_id, kind, identity_id,
    document_id, payload, next_attempt_at, created_at, updated_at)
    VALUES (1, 'identity.update', $I1, NULL, '{}', $T, $T, $T),
           (1, 'document.upload', NULL, $D1, '{}', $T, $T, $T)"
accept "numhub_credentials" "INSERT INTO numhub_credentials (tenant_id, email_armored,
    password_armored, created_at, updated_at) VALUES (1, $AGE, $AGE, $T, $T)"
accept "numhub_login_blocks" "INSERT INTO numhub_login_blocks (account, reason, status_code,
    credentials_armored, blocked_at)
    VALUES ('tenant:1', 'wrong password', 403, $AGE, $T), ('global', 'x', NULL, $AGE, $T)"
accept "numhub_origin" "INSERT INTO numhub_origin (id, origin, recorded_at)
    VALUES (1, 'https://api.numhub.test', $T)"
accept "backup_marker" "INSERT INTO backup_marker (id, taken_at, source_path)
    VALUES (1, $T, '/var/lib/numhubd/numhubd.db')"
accept "numhub_reviews" "INSERT INTO numhub_reviews (numhub_entity_id, message, flagged_comments,
    flagged_at, updated_at) VALUES ($E1, 'Please correct section 2',
    '[{\"sectionNumber\": 2, \"sectionName\": \"Business\", \"comments\": \"x\"}]', $T, $T)"
accept "numhubd_commits (committed_at by default)" \
    "INSERT INTO numhubd_commits (marker) VALUES ('019ab3c4-0000-7000-8000-0000000000ff')"
accept "numhubd_instance" "INSERT INTO numhubd_instance (id, host, pid, started_at)
    VALUES (1, 'host-a', 4242, $T)"

accept "jobs.last_error of 100 KB (an error always fits)" \
    "UPDATE jobs SET last_error = REPEAT('e', 100000) WHERE kind = 'identity.update'"
expect "api_response keeps NumHub's bytes" "$API" \
    "SELECT api_response FROM numhub_entities WHERE id = $E1"
expect "a 4-byte character round-trips" "$NAME" \
    "SELECT company_name FROM numhub_entities WHERE id = $E1"
expect "TIMESTAMP(6) keeps microseconds, in UTC" "2026-11-25 07:02:03.123456" \
    "SELECT created_at FROM numhub_entities WHERE id = $E1"
expect "jobs defaults" $'queued\t0' "SELECT state, attempts FROM jobs WHERE kind = 'entity.create'"
expect "numhubd_commits.committed_at set by the server" "1" \
    "SELECT committed_at IS NOT NULL FROM numhubd_commits"
expect "the client id's key is its integer" $'5\n2147483647' \
    "SELECT numhub_client_id_canonical FROM tenants WHERE numhub_client_id IS NOT NULL ORDER BY id"
expect "SELECT * shows SQLite's 9 tenants columns (the generated one is invisible)" "9" \
    "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE()
     AND table_name = 'tenants' AND UPPER(extra) NOT LIKE '%INVISIBLE%'"

counts() {
    local t
    for t in $tables; do printf '%s %s\n' "$t" "$(q "$DB" "SELECT COUNT(*) FROM $t")"; done
}
before=$(counts)
run_sql "$DB" <"$SCHEMA" || fail "the schema file failed on a database with rows"
[[ $(counts) == "$before" && $(snapshot "$DB" | sed 's/ AUTO_INCREMENT=[0-9]*//') == \
    "$(sed 's/ AUTO_INCREMENT=[0-9]*//' <<<"$first")" ]] &&
    echo "ok       the file run again keeps every row and the schema" ||
    fail "the file run again on a database with rows changed something"

echo "== 6. invalid rows refused"
tenant() { # tenant ID COLUMN VALUE: a tenant row with one column set
    echo "INSERT INTO tenants (id, name, $2, created_at, updated_at) VALUES ($1, 'X', $3, $T, $T)"
}
for v in "'abc'" "'12a'" "''" "'-5'" "' 5'" "'2147483648'" "'99999999999999999999999999'"; do
    refuse "tenants.numhub_client_id $v" tenants_numhub_client_id_check "$(tenant 10 numhub_client_id "$v")"
done
refuse "tenants.numhub_client_id '05' beside '5'" tenants_numhub_client_id_unique \
    "$(tenant 10 numhub_client_id "'05'")"
refuse "tenants.slug taken" tenants_slug_unique "$(tenant 10 slug "'acme'")"
# utf8mb4_bin is a PAD SPACE collation: trailing spaces do not count in = or in a
# unique key (SQLite would take 'acme ' as another slug). README says so; this keeps it true.
refuse "tenants.slug 'acme ' (trailing spaces ignored: PAD SPACE)" tenants_slug_unique \
    "$(tenant 10 slug "'acme '")"
refuse "tenants.name ''" tenants_name_check \
    "INSERT INTO tenants (id, name, created_at, updated_at) VALUES (10, '', $T, $T)"
refuse "tenants.numhub_enabled 2" tenants_numhub_enabled_check "$(tenant 10 numhub_enabled 2)"
refuse "tenants.email over 255" email "$(tenant 10 email "REPEAT('a', 256)")"
refuse "tenants without created_at" created_at \
    "INSERT INTO tenants (id, name, updated_at) VALUES (10, 'X', $T)"
refuse "brands.tenant_id of no tenant" brands_tenant_id_foreign \
    "INSERT INTO brands (tenant_id, name, created_at, updated_at) VALUES (99, 'X', $T, $T)"
refuse "brands.numhub_entity_id NumHub never gave" brands_numhub_entity_id_foreign \
    "UPDATE brands SET numhub_entity_id = 'NH-404' WHERE id = 1"
refuse "brands.display_name of 33" display_name \
    "UPDATE brands SET display_name = REPEAT('x', 33) WHERE id = 1"
refuse "numhub_tokens.access_token in clear" numhub_tokens_access_token_check \
    "UPDATE numhub_tokens SET access_token = 'eyJhbGciOiJIUzI1NiJ9.e30.x'"
refuse "numhub_tokens.access_token armored in lower case" numhub_tokens_access_token_check \
    "UPDATE numhub_tokens SET access_token = '-----begin age encrypted file-----'"
refuse "numhub_tokens.refresh_token in clear" numhub_tokens_refresh_token_check \
    "UPDATE numhub_tokens SET refresh_token = 'r'"
refuse "numhub_tokens.token_type 'bearer'" numhub_tokens_token_type_check \
    "UPDATE numhub_tokens SET token_type = 'bearer'"
refuse "numhub_tokens.scopes not JSON" numhub_tokens_scopes_check \
    "UPDATE numhub_tokens SET scopes = '{'"
entity() { echo "UPDATE numhub_entities SET $1 WHERE id = $E1"; }
refuse "numhub_entities.status 'Draft'" numhub_entities_status_check "$(entity "status = 'Draft'")"
refuse "numhub_entities.vetting_status 'done'" numhub_entities_vetting_status_check \
    "$(entity "vetting_status = 'done'")"
refuse "numhub_entities.entity_type 'agency'" numhub_entities_entity_type_check \
    "$(entity "entity_type = 'agency'")"
refuse "numhub_entities.attestation_level 'a'" numhub_entities_attestation_level_check \
    "$(entity "attestation_level = 'a'")"
refuse "numhub_entities.company_name ''" numhub_entities_company_name_check \
    "$(entity "company_name = ''")"
refuse "numhub_entities.api_response not JSON" numhub_entities_api_response_check \
    "$(entity "api_response = '{\"a\": }'")"
refuse "numhub_entities.numhub_entity_id taken" numhub_entities_numhub_entity_id_unique \
    "UPDATE numhub_entities SET numhub_entity_id = 'NH-1' WHERE tenant_id = 2"
refuse "numhub_entities.tenant_id of no tenant" numhub_entities_tenant_id_foreign \
    "$(entity "tenant_id = 99")"
identity() { echo "UPDATE numhub_identities SET $1 WHERE id = $I1"; }
refuse "numhub_identities.phone_numbers an object" numhub_identities_phone_numbers_check \
    "$(identity "phone_numbers = '{\"n\": 1}'")"
refuse "numhub_identities.phone_numbers not JSON" numhub_identities_phone_numbers_check \
    "$(identity "phone_numbers = 'nope'")"
refuse "numhub_identities.status 'ACTIVE'" numhub_identities_status_check \
    "$(identity "status = 'ACTIVE'")"
refuse "numhub_identities.display_name of 33" display_name \
    "$(identity "display_name = REPEAT('x', 33)")"
refuse "numhub_identities.api_response not JSON" numhub_identities_api_response_check \
    "$(identity "api_response = 'x'")"
refuse "numhub_identities.rich_call_data not JSON" numhub_identities_rich_call_data_check \
    "$(identity "rich_call_data = 'x'")"
for v in "'15555550100'" "'+05555550100'" "'+1 5555550100'" "'+1'" "'+1555a'" "'+1555\n'"; do
    refuse "brand_phone_numbers.phone_number $v" brand_phone_numbers_phone_number_check \
        "UPDATE brand_phone_numbers SET phone_number = $v"
done
refuse "brand_phone_numbers.phone_number of 17" phone_number \
    "UPDATE brand_phone_numbers SET phone_number = '+1234567890123456'"
doc() { echo "UPDATE documents SET $1 WHERE id = 1"; }
refuse "documents.sha256 in upper case" documents_sha256_check "$(doc "sha256 = UPPER(sha256)")"
refuse "documents.sha256 of 63" documents_sha256_check "$(doc "sha256 = LEFT(sha256, 63)")"
refuse "documents.content_type 'image/png'" documents_content_type_check \
    "$(doc "content_type = 'image/png'")"
refuse "documents.size_bytes -1" documents_size_bytes_check "$(doc "size_bytes = -1")"
refuse "documents.source 'ftp'" documents_source_check "$(doc "source = 'ftp'")"
refuse "documents.original_filename ''" documents_original_filename_check \
    "$(doc "original_filename = ''")"
refuse "numhub_documents.document_type 'LOA'" numhub_documents_document_type_check \
    "UPDATE numhub_documents SET document_type = 'LOA'"
refuse "numhub_documents.status 'done'" numhub_documents_status_check \
    "UPDATE numhub_documents SET status = 'done'"
refuse "numhub_documents.filename ''" numhub_documents_filename_check \
    "UPDATE numhub_documents SET filename = ''"
refuse "numhub_documents.api_response not JSON" numhub_documents_api_response_check \
    "UPDATE numhub_documents SET api_response = '['"
log() { echo "UPDATE numhub_sync_logs SET $1"; }
refuse "numhub_sync_logs.method 'PATCH'" numhub_sync_logs_method_check "$(log "method = 'PATCH'")"
refuse "numhub_sync_logs.direction 'both'" numhub_sync_logs_direction_check \
    "$(log "direction = 'both'")"
refuse "numhub_sync_logs.status_code 600" numhub_sync_logs_status_code_check \
    "$(log "status_code = 600")"
refuse "numhub_sync_logs.response_time_ms -1" numhub_sync_logs_response_time_ms_check \
    "$(log "response_time_ms = -1")"
refuse "numhub_sync_logs.success 2" numhub_sync_logs_success_check "$(log "success = 2")"
refuse "numhub_sync_logs.endpoint ''" numhub_sync_logs_endpoint_check "$(log "endpoint = ''")"
refuse "numhub_sync_logs.request_payload not JSON" numhub_sync_logs_request_payload_check \
    "$(log "request_payload = 'x'")"
refuse "numhub_sync_logs.response_payload not JSON" numhub_sync_logs_response_payload_check \
    "$(log "response_payload = 'x'")"
refuse "jobs.kind 'entity.delete'" jobs_kind_check "UPDATE jobs SET kind = 'entity.delete'"
refuse "jobs.state 'paused'" jobs_state_check "UPDATE jobs SET state = 'paused'"
refuse "jobs.attempts -1" jobs_attempts_check "UPDATE jobs SET attempts = -1"
refuse "jobs.payload ''" jobs_payload_check "UPDATE jobs SET payload = ''"
refuse "jobs.entity_id of no entity" jobs_entity_id_foreign \
    "UPDATE jobs SET entity_id = '019ab3c4-0000-7000-8000-0000000000aa'"
refuse "numhub_credentials.email_armored in clear" numhub_credentials_email_armored_check \
    "UPDATE numhub_credentials SET email_armored = 'ops@acme.test'"
refuse "numhub_credentials.password_armored in clear" numhub_credentials_password_armored_check \
    "UPDATE numhub_credentials SET password_armored = 'hunter2'"
refuse "numhub_credentials: a second for the tenant" numhub_credentials_tenant_id_unique \
    "INSERT INTO numhub_credentials (tenant_id, email_armored, password_armored, created_at,
     updated_at) VALUES (1, $AGE, $AGE, $T, $T)"
for v in "'Global'" "'tenant:'" "'tenant:1x'" "'tenant:-1'" "'tenant: 1'" "'tenant:1\n'" "'user:1'"; do
    refuse "numhub_login_blocks.account $v" numhub_login_blocks_account_check \
        "UPDATE numhub_login_blocks SET account = $v WHERE account = 'tenant:1'"
done
refuse "numhub_login_blocks.status_code 99" numhub_login_blocks_status_code_check \
    "UPDATE numhub_login_blocks SET status_code = 99"
refuse "numhub_login_blocks.credentials_armored in clear" \
    numhub_login_blocks_credentials_armored_check \
    "UPDATE numhub_login_blocks SET credentials_armored = 'x'"
refuse "numhub_origin: a second row" numhub_origin_id_check \
    "INSERT INTO numhub_origin (id, origin, recorded_at) VALUES (2, 'sandbox', $T)"
refuse "numhub_origin.origin 'ftp://x'" numhub_origin_origin_check \
    "UPDATE numhub_origin SET origin = 'ftp://x'"
refuse "numhub_origin.origin 'Sandbox'" numhub_origin_origin_check \
    "UPDATE numhub_origin SET origin = 'Sandbox'"
refuse "backup_marker: a second row" backup_marker_id_check \
    "INSERT INTO backup_marker (id, taken_at, source_path) VALUES (2, $T, '/x')"
refuse "backup_marker.source_path ''" backup_marker_source_path_check \
    "UPDATE backup_marker SET source_path = ''"
refuse "numhub_reviews.flagged_comments an object" numhub_reviews_flagged_comments_check \
    "UPDATE numhub_reviews SET flagged_comments = '{}'"
refuse "numhub_reviews.flagged_comments not JSON" numhub_reviews_flagged_comments_check \
    "UPDATE numhub_reviews SET flagged_comments = 'x'"
refuse "numhubd_instance: a second row" numhubd_instance_id_check \
    "INSERT INTO numhubd_instance (id, host, pid, started_at) VALUES (2, 'host-b', 1, $T)"

echo "== 7. ON DELETE / ON UPDATE as on SQLite"
accept "NumHub's id changes: brands follow (ON UPDATE CASCADE)" \
    "UPDATE numhub_entities SET numhub_entity_id = 'NH-1b' WHERE id = $E1"
expect "brands.numhub_entity_id followed" "NH-1b" "SELECT numhub_entity_id FROM brands WHERE id = 1"
refuse "a tenant with entities is not deleted (RESTRICT)" numhub_entities_tenant_id_foreign \
    "DELETE FROM tenants WHERE id = 1"
accept "deleting the entity" "DELETE FROM numhub_entities WHERE id = $E1"
expect "its identities, documents, review and jobs went with it (CASCADE)" "0 0 0 0" \
    "SELECT CONCAT_WS(' ', (SELECT COUNT(*) FROM numhub_identities),
        (SELECT COUNT(*) FROM numhub_documents), (SELECT COUNT(*) FROM numhub_reviews),
        (SELECT COUNT(*) FROM jobs))"
expect "the audit row stays, its links NULL (SET NULL)" $'NULL\tNULL' \
    "SELECT numhub_entity_id, numhub_identity_id FROM numhub_sync_logs"
expect "the brand stays, unlinked; its number loses the identity (SET NULL)" $'NULL\tNULL' \
    "SELECT b.numhub_entity_id, p.numhub_identity_id FROM brands b JOIN brand_phone_numbers p
     ON p.brand_id = b.id"
accept "deleting the tenant" "DELETE FROM tenants WHERE id = 1"
expect "its brands, numbers, tokens, documents, logs and credentials went (CASCADE)" "0 0 0 0 0 0" \
    "SELECT CONCAT_WS(' ', (SELECT COUNT(*) FROM brands), (SELECT COUNT(*) FROM brand_phone_numbers),
        (SELECT COUNT(*) FROM numhub_tokens), (SELECT COUNT(*) FROM documents),
        (SELECT COUNT(*) FROM numhub_sync_logs), (SELECT COUNT(*) FROM numhub_credentials))"

echo "== SHOW CREATE TABLE"
for t in $tables; do
    q "$DB" "SHOW CREATE TABLE $t" | cut -f2-
    echo
done

if [[ $failures -gt 0 ]]; then
    echo "mysql-schema-check: $failures failure(s)" >&2
    exit 1
fi
echo "mysql-schema-check: all passed"
