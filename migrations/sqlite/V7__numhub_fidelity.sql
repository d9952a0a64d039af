-- V7: what NumHub's document says of identities and reviews, which the replica had no
-- place for; and one tenant per NumHub client.
--
-- `numhub_identities.dir_id`: NumHub's `dirId` of the identity, as NumHub reports it.
-- `PUT /applications/deactivationrequest` lists `NumhubIdentityID`, `dirId` and
-- `IsDeactivationRequest`, so a deactivation must carry it.
--
-- `numhub_identities.api_response`: the identity as NumHub last answered it whole
-- (`GET /applications/newidentities/{NumhubIdentityId}` or an application's
-- `displayIdentityInformation`), like `numhub_entities.api_response`. A change request
-- sends back the values NumHub holds for what it does not mean to change (the
-- non-nullable `isFeeChecked`), and a status the replica cannot map stays visible here.
ALTER TABLE numhub_identities ADD COLUMN dir_id TEXT
    CHECK (dir_id IS NULL OR length(dir_id) <= 100);
ALTER TABLE numhub_identities ADD COLUMN api_response TEXT
    CHECK (api_response IS NULL OR json_valid(api_response));

-- NumHub's review of an application while it is flagged: the alert of
-- `GET /notifications` (its `message`) and the application's flagged comments
-- (`GET /notifications/{id}/flag`: `sectionNumber`, `sectionName`, `comments`), as a
-- JSON array. One row per application under review; deleted when NumHub no longer
-- lists an alert for it.
CREATE TABLE numhub_reviews (
    -- The local entity (uuid), as the seed's child tables name it.
    numhub_entity_id TEXT NOT NULL PRIMARY KEY REFERENCES numhub_entities (id) ON DELETE CASCADE,
    message          TEXT CHECK (message IS NULL OR length(message) <= 2000),
    flagged_comments TEXT NOT NULL CHECK (json_valid(flagged_comments) AND json_type(flagged_comments) = 'array'),
    -- When this set of comments was first seen (a new set is a new flag).
    flagged_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL
) STRICT;

-- A NumHub client belongs to one tenant: two tenants on one client id would send each
-- other's creates and import each other's applications. `numhubd` refuses to run this
-- migration on a file that has duplicates, naming them (src/db/migrate.rs), before
-- this index would fail with SQLite's bare message.
CREATE UNIQUE INDEX tenants_numhub_client_id_unique ON tenants (CAST(numhub_client_id AS INTEGER))
    WHERE numhub_client_id IS NOT NULL;
