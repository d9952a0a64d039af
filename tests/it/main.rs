//! numhubd's integration tests: one binary, so the suite links once.
//! Everything here uses real parts — real SQLite files, the real daemon binary,
//! real signals and the real sd_notify protocol on a real datagram socket.

mod app_reads;
mod architecture;
mod backup;
mod cluster;
mod cluster_budget;
mod cluster_fencing;
mod cluster_lease;
mod cluster_once;
mod cluster_support;
mod config_database;
mod copy_store;
mod crypto;
mod cut_proxy;
mod daemon;
mod drop_folder;
mod drop_full_disk;
mod drop_operators;
mod drop_support;
mod drop_template;
mod dump_restore;
mod events_relay;
mod first_run;
mod housekeeping;
mod jobs;
mod journal;
mod lost_commit;
mod mariadb_server;
mod mariadb_support;
mod numhub_budget;
mod numhub_check;
mod numhub_faults;
mod numhub_ops;
mod numhub_pacing;
mod numhub_secrets;
mod numhub_support;
mod numhub_tokens;
mod package;
mod packaging_support;
mod poller_support;
mod private_files;
mod robust_crash;
mod robust_disk;
mod robust_numhub;
mod robust_rpc;
mod rpc_accept;
mod rpc_access;
mod rpc_bad_input;
mod rpc_client;
mod rpc_discover;
mod rpc_events_lag;
mod rpc_load;
mod rpc_methods;
mod rpc_numhubctl;
mod rpc_port_errors;
mod rpc_socket;
mod rpc_spec;
mod rpc_upload_paths;
mod sandbox_origin;
mod schema;
mod server_refusals;
mod spool_shared;
mod store;
mod store_support;
mod supervise;
mod support;
mod sync_changes;
mod sync_crash;
mod sync_e2e;
mod sync_identities;
mod sync_outbox;
mod sync_paging;
mod sync_phone;
mod sync_poller;
mod sync_review;
mod sync_run_tenant;
mod sync_submit;
mod sync_support;
mod systemd_host;
mod systemd_host_support;
mod tenant_budget;
mod test_engine;
mod unit;
mod userns;

/// The modules whose helpers other test files may use: set-up shared by several
/// subjects lives in one of these, never in another subject's test file.
const SUPPORT: &[&str] = &[
    "support",
    "test_engine",
    "rpc_client",
    "cut_proxy",
    "store_support",
    "sync_support",
    "numhub_support",
    "drop_support",
    "cluster_support",
    "mariadb_support",
    "packaging_support",
    "poller_support",
    "systemd_host_support",
];

/// Every `crate::<m>` or `super::<m>` in a test file naming another test file that is
/// not a support module, as `file: m`. (architecture.rs is left out: its text
/// quotes paths of `src/`, some of which share a name with a test file.)
fn borrowed_from_test_files(dir: &std::path::Path) -> Vec<String> {
    let files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .expect("tests/it")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    let name = |p: &std::path::Path| p.file_stem().map(|s| s.to_string_lossy().into_owned());
    let modules: std::collections::BTreeSet<String> =
        files.iter().filter_map(|p| name(p)).collect();
    let mut found = Vec::new();
    for file in &files {
        let me = name(file).unwrap_or_default();
        if me == "architecture" {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("read");
        for prefix in ["crate::", "super::"] {
            for (i, _) in text.match_indices(prefix) {
                let m: String = text[i + prefix.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if m != me && modules.contains(&m) && !SUPPORT.contains(&m.as_str()) {
                    found.push(format!("{me}.rs: {m}"));
                }
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn test_files_borrow_only_from_support_modules() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it");
    let found = borrowed_from_test_files(&dir);
    assert!(
        found.is_empty(),
        "move these helpers into a support module ({SUPPORT:?}):\n{}",
        found.join("\n")
    );
}
