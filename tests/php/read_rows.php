<?php
// read_rows.php: reads numhubd's tables the way a Laravel app on the `numhubd`
// connection does (PDO, mysqlnd, native prepares, session time zone +00:00) and
// prints what PHP sees, as JSON, for a test to compare with what numhubd wrote.
//
//   php read_rows.php DSN USER PASSWORD_FILE TENANT_ID
//
//   DSN            e.g. 'mysql:host=127.0.0.1;port=3306;dbname=numhubd;charset=utf8mb4'
//                  or   'mysql:unix_socket=/run/mysqld/mysqld.sock;dbname=numhubd;charset=utf8mb4'
//   PASSWORD_FILE  its first line is the password; '' for none (a socket login)
//   TENANT_ID      the rows of this tenant
//
// For numhub_entities, numhub_tokens and numhub_sync_logs it selects the seed's
// columns by name (a missing one fails) and checks each value against the seed's
// type, failing loudly (exit 1, one line on stderr) on the first that does not fit:
// ids are PHP ints, uuids 36-character strings, JSON columns decode (json_decode
// with JSON_THROW_ON_ERROR), timestamps parse as UTC. Output, on stdout:
//
//   {"tenant_id": 1, "session_time_zone": "+00:00",
//    "tables": {"numhub_entities": [{"columns": {...}, "php_types": {...},
//                                    "json_text": {...}}, ...], ...}}
//
// `columns` holds the values as the app would use them (JSON decoded, timestamps as
// "YYYY-MM-DDTHH:MM:SS.uuuuuuZ", booleans as true/false, token ciphertext shown only
// by its kind and length); `php_types` is gettype() of the value PDO returned;
// `json_text` the JSON columns' text exactly as stored (to compare bytes: numhubd
// keeps NumHub's answers byte for byte).
// Exit 0 ok, 1 a value or the database failed, 64 wrong arguments.

declare(strict_types=1);

const TABLES = [
    'numhub_entities' => [
        'id' => 'uuid',
        'tenant_id' => 'int',
        'brand_id' => '?int',
        'numhub_entity_id' => '?string',
        'numhub_eid' => '?string',
        'entity_type' => 'string',
        'company_name' => 'string',
        'status' => 'string',
        'vetting_status' => 'string',
        'attestation_level' => '?string',
        'api_response' => '?json',
        'submitted_at' => '?timestamp',
        'approved_at' => '?timestamp',
        'created_at' => 'timestamp',
        'updated_at' => 'timestamp',
    ],
    'numhub_tokens' => [
        'id' => 'int',
        'tenant_id' => '?int',
        'token_type' => 'string',
        'access_token' => 'secret',
        'refresh_token' => '?secret',
        'expires_at' => 'timestamp',
        'scopes' => '?json',
        'created_at' => 'timestamp',
        'updated_at' => 'timestamp',
    ],
    'numhub_sync_logs' => [
        'id' => 'uuid',
        'tenant_id' => '?int',
        'numhub_entity_id' => '?uuid',
        'numhub_identity_id' => '?uuid',
        'endpoint' => 'string',
        'method' => 'string',
        'direction' => 'string',
        'status_code' => '?int',
        'request_payload' => '?json',
        'response_payload' => '?json',
        'response_time_ms' => '?int',
        'error_message' => '?string',
        'success' => 'bool',
        'created_at' => 'timestamp',
    ],
];

final class Mismatch extends RuntimeException {}

function fail(string $msg, int $code = 1): never
{
    fwrite(STDERR, "read_rows.php: $msg\n");
    exit($code);
}

function read_password(string $file): ?string
{
    if ($file === '') {
        return null;
    }
    $text = @file_get_contents($file);
    if ($text === false) {
        fail("cannot read the password file $file");
    }
    return preg_split('/\r?\n/', $text)[0];
}

/** The app's view of one value of kind $kind; throws Mismatch when it does not fit. */
function convert(string $where, string $kind, mixed $v): mixed
{
    if (str_starts_with($kind, '?')) {
        if ($v === null) {
            return null;
        }
        $kind = substr($kind, 1);
    } elseif ($v === null) {
        throw new Mismatch("$where is NULL, the seed's column is NOT NULL");
    }
    switch ($kind) {
        case 'int':
            if (!is_int($v)) {
                throw new Mismatch("$where is a PHP " . gettype($v) . ", not an int");
            }
            return $v;
        case 'bool':
            if ($v !== 0 && $v !== 1) {
                throw new Mismatch("$where is " . var_export($v, true) . ", not a boolean column's 0 or 1");
            }
            return $v === 1;
        case 'string':
            if (!is_string($v)) {
                throw new Mismatch("$where is a PHP " . gettype($v) . ", not a string");
            }
            return $v;
        case 'uuid':
            if (!is_string($v) || strlen($v) !== 36
                || !preg_match('/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i', $v)) {
                throw new Mismatch("$where is not a 36-character uuid: " . var_export($v, true));
            }
            return $v;
        case 'json':
            if (!is_string($v)) {
                throw new Mismatch("$where is a PHP " . gettype($v) . ", not JSON text");
            }
            try {
                return json_decode($v, true, 512, JSON_THROW_ON_ERROR);
            } catch (JsonException $e) {
                throw new Mismatch("$where is not valid JSON: " . $e->getMessage());
            }
        case 'timestamp':
            return utc_timestamp($where, $v);
        case 'secret':
            // Stored age-encrypted by numhubd; never printed, only described.
            if (!is_string($v)) {
                throw new Mismatch("$where is a PHP " . gettype($v) . ", not text");
            }
            $kind = str_starts_with($v, '-----BEGIN AGE ENCRYPTED FILE-----') ? 'age-armored' : 'NOT age-armored';
            return sprintf('[%s, %d bytes]', $kind, strlen($v));
    }
    throw new LogicException("unknown kind $kind");
}

/** A TIMESTAMP/DATETIME as MySQL returns it in a +00:00 session, read as UTC. */
function utc_timestamp(string $where, mixed $v): string
{
    if (!is_string($v)) {
        throw new Mismatch("$where is a PHP " . gettype($v) . ", not a timestamp");
    }
    $utc = new DateTimeZone('UTC');
    foreach (['Y-m-d H:i:s.u', 'Y-m-d H:i:s'] as $format) {
        $t = DateTimeImmutable::createFromFormat('!' . $format, $v, $utc);
        if ($t !== false && $t->format($format) === $v) {
            return $t->format('Y-m-d\TH:i:s.u\Z');
        }
    }
    throw new Mismatch("$where is not a MySQL timestamp (YYYY-MM-DD HH:MM:SS[.ffffff]): " . var_export($v, true));
}

function read_table(PDO $db, string $table, array $columns, int $tenant): array
{
    $list = implode(', ', array_map(fn ($c) => "`$c`", array_keys($columns)));
    $q = $db->prepare("SELECT $list FROM `$table` WHERE tenant_id = ? ORDER BY created_at, id");
    $q->execute([$tenant]);
    $rows = [];
    foreach ($q->fetchAll(PDO::FETCH_ASSOC) as $n => $row) {
        $out = ['columns' => [], 'php_types' => [], 'json_text' => []];
        foreach ($columns as $name => $kind) {
            $raw = $row[$name];
            $out['php_types'][$name] = gettype($raw);
            if (str_ends_with($kind, 'json')) {
                $out['json_text'][$name] = $raw;
            }
            $out['columns'][$name] = convert("$table row $n column $name", $kind, $raw);
        }
        $rows[] = $out;
    }
    return $rows;
}

if ($argc !== 5 || !ctype_digit($argv[4])) {
    fail('usage: php read_rows.php DSN USER PASSWORD_FILE TENANT_ID', 64);
}
[, $dsn, $user, $passwordFile, $tenant] = $argv;
$tenant = (int) $tenant;

try {
    // What Laravel's MySQL connector sets: exceptions, native prepares (ints come
    // back as ints), no stringified fetches; 'timezone' => '+00:00' on the connection.
    $db = new PDO($dsn, $user, read_password($passwordFile), [
        PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
        PDO::ATTR_EMULATE_PREPARES => false,
        PDO::ATTR_STRINGIFY_FETCHES => false,
    ]);
    $db->exec("SET time_zone = '+00:00'");
    $zone = $db->query('SELECT @@session.time_zone')->fetchColumn();
    $out = ['tenant_id' => $tenant, 'session_time_zone' => $zone, 'tables' => []];
    foreach (TABLES as $table => $columns) {
        $out['tables'][$table] = read_table($db, $table, $columns, $tenant);
    }
    echo json_encode($out, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR), "\n";
} catch (Mismatch $e) {
    fail($e->getMessage());
} catch (PDOException $e) {
    fail('database: ' . $e->getMessage());
}
