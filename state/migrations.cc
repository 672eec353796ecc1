#include "state/internal.h"

namespace syncd::state_internal {

// Migration i takes the schema from version i to i + 1; append, never edit.
// sid_history keeps a seq column so that the cached image round-trips in the
// order AD returned it (a reordered vector would read as an attribute change).
const std::vector<std::string> kMigrations = {
    R"sql(
CREATE TABLE objects (
  guid BLOB PRIMARY KEY NOT NULL,
  kind TEXT NOT NULL,
  external_id TEXT NOT NULL,
  name TEXT NOT NULL,
  dn TEXT NOT NULL,
  attributes TEXT NOT NULL,
  sid BLOB,
  sam_account_name TEXT,
  user_principal_name TEXT,
  mail TEXT
);
CREATE INDEX objects_sid ON objects(sid);
CREATE INDEX objects_sam_account_name ON objects(sam_account_name);
CREATE INDEX objects_user_principal_name ON objects(user_principal_name);
CREATE INDEX objects_mail ON objects(mail);
CREATE TABLE sid_history (
  guid BLOB NOT NULL,
  sid BLOB NOT NULL,
  seq INTEGER NOT NULL,
  PRIMARY KEY (guid, sid)
);
CREATE INDEX sid_history_sid ON sid_history(sid);
CREATE TABLE memberships (
  group_guid BLOB NOT NULL,
  member_guid BLOB NOT NULL,
  PRIMARY KEY (group_guid, member_guid)
);
CREATE INDEX memberships_member ON memberships(member_guid);
CREATE TABLE outbox (
  run_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  operation TEXT NOT NULL,
  PRIMARY KEY (run_id, seq)
);
CREATE TABLE runs (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  finished_at INTEGER,
  outcome TEXT NOT NULL,
  counts TEXT NOT NULL DEFAULT '{}',
  message TEXT NOT NULL DEFAULT ''
);
)sql",
    // A single row: the change feed's position and the DC it belongs to.
    R"sql(
CREATE TABLE watermark (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  feed TEXT NOT NULL,
  naming_context TEXT NOT NULL,
  dc_host TEXT NOT NULL,
  dsa_dn TEXT NOT NULL,
  invocation_id BLOB,
  highest_usn INTEGER NOT NULL DEFAULT 0,
  cookie BLOB,
  object_security INTEGER NOT NULL DEFAULT 0,
  scope_fingerprint TEXT NOT NULL,
  last_success INTEGER NOT NULL,
  last_full INTEGER NOT NULL,
  tombstone_lifetime_days INTEGER NOT NULL
);
CREATE TABLE revisit (
  guid BLOB PRIMARY KEY NOT NULL
);
)sql",
    // Assignments, the identity keys that find their principal again after a
    // source switch (mS-DS-ConsistencyGuid, the source's domain SID).
    // One active row per (principal, target); rows that are no longer active
    // stay as the record of what was granted.
    R"sql(
ALTER TABLE objects ADD COLUMN consistency_guid BLOB;
ALTER TABLE watermark ADD COLUMN domain_sid BLOB;
ALTER TABLE watermark ADD COLUMN reapply_pending INTEGER NOT NULL DEFAULT 0;
CREATE TABLE assignments (
  id INTEGER PRIMARY KEY,
  target TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  changed_at INTEGER NOT NULL,
  reason TEXT NOT NULL,
  kind TEXT NOT NULL,
  guid BLOB NOT NULL,
  external_id TEXT NOT NULL,
  name TEXT NOT NULL,
  dn TEXT NOT NULL,
  display_name TEXT,
  sid BLOB,
  sid_history TEXT NOT NULL,
  consistency_guid BLOB,
  user_principal_name TEXT,
  sam_account_name TEXT,
  mail TEXT,
  domain_sid BLOB,
  domain_name TEXT
);
CREATE INDEX assignments_guid ON assignments(guid);
CREATE UNIQUE INDEX assignments_active ON assignments(guid, target) WHERE status = 'active';
)sql",
    // The store the cache describes (its StoreIdentity id): a replaced or
    // recreated store is reconciled in full.
    R"sql(
ALTER TABLE watermark ADD COLUMN store_id TEXT NOT NULL DEFAULT '';
ALTER TABLE watermark ADD COLUMN reconcile_pending INTEGER NOT NULL DEFAULT 0;
)sql",
    // A remote sink fails one object at a time and assigns its own ids: the
    // outbox becomes a per-operation journal (an existing outbox reads as
    // pending), the sink's reference is kept per object, and the objects it
    // refused wait in quarantine.
    R"sql(
ALTER TABLE outbox ADD COLUMN status TEXT NOT NULL DEFAULT 'pending'
  CHECK (status IN ('pending', 'applied', 'refused', 'deferred'));
ALTER TABLE outbox ADD COLUMN sink_ref TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN reason TEXT NOT NULL DEFAULT '';
CREATE TABLE sink_refs (
  guid BLOB PRIMARY KEY NOT NULL,
  ref TEXT NOT NULL
);
CREATE TABLE quarantine (
  guid BLOB PRIMARY KEY NOT NULL,
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  external_id TEXT NOT NULL,
  reason TEXT NOT NULL,
  since INTEGER NOT NULL,
  fingerprint TEXT NOT NULL
);
)sql",
    // IAM Identity Center: the AWS references of a ledger target, the
    // instance and identity store last seen (a changed store id is a source
    // switch), the assignments found in the live instance, the identity-store
    // ids of AD principals, what syncd learned of each identity store (the
    // ExternalId issuer, the last reapply's unmatched entries), and the
    // reapply journal (each operation's RequestId is written before it is
    // polled).
    R"sql(
ALTER TABLE assignments ADD COLUMN target_ref TEXT NOT NULL DEFAULT '';
CREATE TABLE aws_instance (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  instance_arn TEXT NOT NULL,
  identity_store_id TEXT NOT NULL,
  previous_identity_store_id TEXT NOT NULL DEFAULT '',
  switched_at INTEGER NOT NULL DEFAULT 0,
  reapply_pending INTEGER NOT NULL DEFAULT 0,
  checked_at INTEGER NOT NULL
);
CREATE TABLE aws_capture (
  identity_store_id TEXT NOT NULL,
  target TEXT NOT NULL,
  target_ref TEXT NOT NULL,
  principal_type TEXT NOT NULL CHECK (principal_type IN ('USER', 'GROUP')),
  principal_id TEXT NOT NULL,
  principal_name TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL CHECK (status IN ('linked', 'unmatched', 'orphan')),
  guid BLOB,
  ledger_id INTEGER,
  detail TEXT NOT NULL DEFAULT '',
  captured_at INTEGER NOT NULL,
  PRIMARY KEY (identity_store_id, target, principal_type, principal_id)
);
CREATE TABLE aws_principals (
  identity_store_id TEXT NOT NULL,
  guid BLOB NOT NULL,
  principal_type TEXT NOT NULL CHECK (principal_type IN ('USER', 'GROUP')),
  principal_id TEXT NOT NULL,
  resolved_by TEXT NOT NULL,
  resolved_at INTEGER NOT NULL,
  PRIMARY KEY (identity_store_id, guid)
);
CREATE TABLE aws_identity_stores (
  identity_store_id TEXT PRIMARY KEY NOT NULL,
  external_id_issuer TEXT NOT NULL DEFAULT '',
  reapplied_at INTEGER NOT NULL DEFAULT 0,
  ambiguous INTEGER NOT NULL DEFAULT 0,
  missing INTEGER NOT NULL DEFAULT 0,
  unrecorded INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE aws_operations (
  id INTEGER PRIMARY KEY,
  identity_store_id TEXT NOT NULL,
  ledger_id INTEGER NOT NULL,
  action TEXT NOT NULL CHECK (action IN ('create', 'delete')),
  target TEXT NOT NULL,
  target_ref TEXT NOT NULL,
  principal_guid BLOB NOT NULL,
  principal_type TEXT NOT NULL CHECK (principal_type IN ('USER', 'GROUP')),
  principal_name TEXT NOT NULL,
  principal_id TEXT NOT NULL DEFAULT '',
  request_id TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL CHECK (status IN
    ('unresolved', 'pending', 'sending', 'in_progress', 'succeeded', 'failed')),
  reason TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL DEFAULT 0,
  sent_at INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  changed_at INTEGER NOT NULL,
  UNIQUE (identity_store_id, action, target, principal_guid)
);
CREATE INDEX aws_operations_status ON aws_operations(status);
)sql",
    // The journal's status CHECK as comparisons: SQLite evaluates a CHECK's
    // IN list by building a temporary b-tree for every row it writes, which
    // was a third of journaling a full sync. A table's CHECK cannot be
    // altered, so the table is rebuilt (the journal is usually empty).
    R"sql(
CREATE TABLE outbox_rebuilt (
  run_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  operation TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'pending' CHECK (status = 'pending' OR status = 'applied' OR
                                                status = 'refused' OR status = 'deferred'),
  sink_ref TEXT NOT NULL DEFAULT '',
  reason TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (run_id, seq)
);
INSERT INTO outbox_rebuilt (run_id, seq, operation, status, sink_ref, reason)
  SELECT run_id, seq, operation, status, sink_ref, reason FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_rebuilt RENAME TO outbox;
)sql",
};

}  // namespace syncd::state_internal
