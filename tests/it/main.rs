//! numhubd's integration tests: one binary, so the suite links once.
//! Everything here uses real parts — real SQLite files, the real daemon binary,
//! real signals and the real sd_notify protocol on a real datagram socket.

mod architecture;
mod backup;
mod crypto;
mod daemon;
mod drop_folder;
mod drop_template;
mod housekeeping;
mod jobs;
mod journal;
mod numhub_check;
mod numhub_faults;
mod numhub_ops;
mod numhub_pacing;
mod numhub_secrets;
mod numhub_support;
mod numhub_tokens;
mod package;
mod private_files;
mod rpc_accept;
mod rpc_access;
mod rpc_bad_input;
mod rpc_client;
mod rpc_discover;
mod rpc_events_lag;
mod rpc_methods;
mod rpc_numhubctl;
mod rpc_port_errors;
mod rpc_socket;
mod rpc_upload_paths;
mod sandbox_origin;
mod schema;
mod store;
mod support;
mod sync_changes;
mod sync_crash;
mod sync_e2e;
mod sync_outbox;
mod sync_phone;
mod sync_poller;
mod sync_review;
mod sync_run_tenant;
mod sync_support;
mod unit;
mod userns;
