-- V8: when a file dropped into the drop folder left its inbox (moved to `.processed/`
-- or `.failed/`). A document whose file is still in the inbox (numhubd stopped before
-- moving it) is followed up after a restart; one whose file left is not, so the same
-- file dropped again under the same name is a duplicate (or, after a failure, a new
-- upload) instead of being taken for the first one. numhubd's own column; NULL for
-- documents from `document.upload`.
ALTER TABLE documents ADD COLUMN left_inbox_at TEXT;

-- Files whose upload had finished before this version were moved out then.
UPDATE documents SET left_inbox_at = updated_at
 WHERE source = 'drop_folder'
   AND id IN (SELECT d.local_document_id FROM numhub_documents d
               JOIN jobs j ON j.document_id = d.id
              WHERE j.kind = 'document.upload' AND j.state IN ('done', 'dead'));
