//! Shared set-up for tests that use numhubd's store in the test process (driven on
//! [`crate::support::rt`]): a store on a temp file, tenants and identities seeded through its own
//! API, and the RPC layer's state built on it (for servers run in process).

use std::path::Path;
use std::sync::Arc;

use numhubd::db::{identities, tenants, IdentityStatus, Store, StoreOptions};

/// A new store on `name` in a temp folder (kept as long as the folder).
pub fn open(name: &str) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join(name), StoreOptions::default()).expect("open");
    (dir, store)
}

/// A second handle on a database (one reader), to seed what only NumHub creates
/// (identities, exchange logs) and to check what calls wrote.
pub fn side_store(db: &Path) -> Store {
    Store::open(
        db,
        StoreOptions {
            readers: 1,
            ..StoreOptions::default()
        },
    )
    .expect("open store")
}

/// Tenant `id` named `name`, nothing else set.
pub fn tenant(id: i64, name: &str) -> tenants::TenantFields {
    tenants::TenantFields {
        id,
        name: name.into(),
        ..Default::default()
    }
}

/// Tenant `id` named `name` on NumHub client `client`, its sync on, off or (`None`)
/// left as it is.
pub fn numhub_tenant(
    id: i64,
    name: &str,
    client: &str,
    enabled: Option<bool>,
) -> tenants::TenantFields {
    tenants::TenantFields {
        numhub_client_id: Some(client.into()),
        numhub_enabled: enabled,
        ..tenant(id, name)
    }
}

/// Writes `input` (one tenant) in a transaction of its own.
pub async fn add_tenant(store: &Store, input: tenants::TenantFields) {
    store
        .write(move |tx| tenants::upsert(tx, input.clone()))
        .await
        .expect("tenant");
}

/// Seeds an active identity with one number on entity `entity_id` (what the poller
/// writes when NumHub has one); its local id.
pub fn seed_identity(
    rt: &tokio::runtime::Runtime,
    store: &Store,
    tenant_id: i64,
    entity_id: &str,
    numhub_id: &str,
) -> String {
    let input = identity_input(entity_id, numhub_id, "Acme Support");
    rt.block_on(store.write(move |tx| identities::upsert(tx, tenant_id, input.clone())))
        .expect("seed identity")
        .0
        .id
}

/// An active identity named `display_name` on `entity_id`, with one number.
pub fn identity_input(
    entity_id: &str,
    numhub_id: &str,
    display_name: &str,
) -> identities::IdentityInput {
    identities::IdentityInput {
        entity_id: entity_id.to_string(),
        numhub_identity_id: numhub_id.to_string(),
        display_name: display_name.to_string(),
        call_reason: None,
        logo_url: None,
        status: IdentityStatus::Active,
        rich_call_data: None,
        phone_numbers: vec!["+15551230000".into()],
        dir_id: None,
        api_response: None,
    }
}

/// No upload folders (for servers built in the test process), with a spool in `dir`.
pub fn no_uploads(dir: &Path) -> numhubd::intake::Uploads {
    numhubd::intake::Uploads {
        dirs: vec![],
        max_bytes: 1,
        spool: numhubd::intake::Spool::open(&dir.join("spool")).expect("spool"),
    }
}

/// The RPC layer's state on `store` and `events`, with no NumHub, no uploads and a
/// fresh key, its folders in `dir` (for a server or module built in the test process).
pub fn rpc_state(dir: &Path, store: Store, events: numhubd::events::EventBus) -> numhubd::rpc::Rpc {
    numhubd::rpc::Rpc {
        store,
        events,
        crypto: Arc::new(numhubd::crypto::Crypto::generate(&[]).expect("crypto")),
        numhub: None,
        started: std::time::Instant::now(),
        uploads: no_uploads(dir),
        drop_dir: dir.join("drop"),
        watcher: Default::default(),
        connections: Default::default(),
        sync_anomalies: Default::default(),
        business_id_fields: Vec::new(),
        cluster_node: None,
    }
}

/// A draft application of tenant `tenant_id` (no brand, not submitted, no
/// attestation level), for `entities::create`.
pub fn new_entity(
    tenant_id: i64,
    entity_type: numhubd::db::EntityType,
    company: &str,
) -> numhubd::db::entities::NewEntity {
    numhubd::db::entities::NewEntity {
        tenant_id,
        brand_id: None,
        entity_type,
        company_name: company.into(),
        submit: false,
        attestation_level: None,
    }
}
