-- V3: the jobs of an identity and of a document, found by index.
--
-- A result's `sync` object is its row's newest unfinished job, looked up by
-- identity_id or document_id on every identity/document read and list item, and
-- deleting an identity or a document finds its jobs to cascade. Without these
-- indexes each of those scanned every job kept (done jobs stay for
-- [sync] done_retention_days): with 10,000 kept jobs, one 100-item identity.list
-- page took ~100 ms (docs/BENCHMARKS.md). entity_id has had its index since V2.
CREATE INDEX jobs_identity_id_index ON jobs (identity_id);
CREATE INDEX jobs_document_id_index ON jobs (document_id);
