//! NumHub client benchmark (a bench binary, not a timed test):
//! `cargo bench --bench numhub`.
//!
//! 1. Upload: a generated file (default 1 GiB, `BENCH_UPLOAD_MIB`) streamed from disk
//!    through `Client::upload_documents` to the sandbox; reports peak VmRSS of the
//!    whole process (client and in-process sandbox) sampled during the upload.
//! 2. Throughput: `GET /reports/status` through the client (token cache, governor
//!    disabled, audit row per call) from 16 concurrent callers for `BENCH_SECS`
//!    (default 5) seconds; reports calls/s.
//!
//! `NUMHUBD_BENCH_SMOKE=1` is the smoke mode CI runs (`.ci/run`): a 1 MiB upload and
//! 1 s of calls; seconds, and its figures mean nothing. A failed upload or call
//! fails the bench in either mode.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use numhub_sandbox::SandboxConfig;
use numhubd::crypto::Crypto;
use numhubd::db::{tenants, Store, StoreOptions};
use numhubd::numhub::model::*;
use numhubd::numhub::{Client, Credentials, Priority, Secret};

#[allow(dead_code)]
mod common;

const CALLERS: usize = 16;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let smoke = common::smoke();
    let upload_mib = common::env_u64("BENCH_UPLOAD_MIB", if smoke { 1 } else { 1024 });
    let secs = common::env_u64("BENCH_SECS", if smoke { 1 } else { 5 });
    let dir = tempfile::tempdir().expect("tempdir");
    let sandbox = numhub_sandbox::start(
        ([127, 0, 0, 1], 0).into(),
        SandboxConfig {
            rate_limit: 0,
            max_file_bytes: (upload_mib + 16) * 1024 * 1024,
            storage_dir: Some(dir.path().join("sandbox-storage")),
            ..SandboxConfig::default()
        },
    )
    .await
    .expect("sandbox");
    let store = Store::open(&dir.path().join("bench.db"), StoreOptions::default()).expect("store");
    store
        .write(|tx| tenants::upsert(tx, common::tenant("bench", Some("1001"))))
        .await
        .expect("tenant");
    let crypto = Arc::new(Crypto::load(&dir.path().join("identity.txt"), &[]).expect("crypto"));
    let mut opts = numhubd::daemon::options::client_for(
        sandbox.base_url(),
        Some(Credentials {
            email: "demo@numhub.test".into(),
            password: Secret::new("demo-password"),
        }),
    );
    opts.pacing.rate_limit = 0;
    opts.request_timeout = Duration::from_secs(600);
    let client = Client::new(opts, store.clone(), crypto).expect("client");
    let p = Priority::Background;

    // 1. Upload.
    let app = client
        .create_application(
            1,
            p,
            &ApplicationModel {
                business_entity_details: Some(BusinessEntityDetails {
                    legal_business_name: Some("Bench Co".into()),
                    ..Default::default()
                }),
                status: Some(WriteStatus::Saved),
                ..Default::default()
            },
        )
        .await
        .expect("create");
    let id = app.numhub_entity_id.expect("id");
    let path = dir.path().join("big.pdf");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&path).expect("file"));
        f.write_all(b"%PDF-1.4\n").expect("write");
        let chunk = vec![0u8; 1024 * 1024];
        for _ in 0..upload_mib {
            f.write_all(&chunk).expect("write");
        }
        f.flush().expect("flush");
    }
    let before = common::status_kib("self", "VmRSS:");
    let done = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(before));
    let sampler = {
        let (done, peak) = (done.clone(), peak.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(common::status_kib("self", "VmRSS:"), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let start = Instant::now();
    let up = client
        .upload_documents(
            1,
            p,
            id,
            DocumentType::Documents,
            Some("bench"),
            &[UploadFile {
                path: path.clone(),
                file_name: "big.pdf".into(),
                content_type: "application/pdf".into(),
                sha256: None,
            }],
        )
        .await;
    let elapsed = start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.await;
    let _ = std::fs::remove_file(&path);
    // A bench whose upload fails measures nothing: it stops, so CI's smoke run sees it.
    let r = up.unwrap_or_else(|e| panic!("upload failed: {e}"));
    println!(
        "upload: {upload_mib} MiB in {elapsed:.1} s ({:.0} MiB/s), {} document(s); VmRSS before {} MiB, peak during {} MiB",
        upload_mib as f64 / elapsed,
        r.documents.map(|d| d.len()).unwrap_or(0),
        before / 1024,
        peak.load(Ordering::Relaxed) / 1024
    );

    // 2. Throughput.
    client.status_report(1, p).await.expect("warm-up");
    let calls = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..CALLERS {
        let (c, calls, errors) = (client.clone(), calls.clone(), errors.clone());
        set.spawn(async move {
            while Instant::now() < deadline {
                match c.status_report(1, p).await {
                    Ok(_) => calls.fetch_add(1, Ordering::Relaxed),
                    Err(_) => errors.fetch_add(1, Ordering::Relaxed),
                };
            }
        });
    }
    while set.join_next().await.is_some() {}
    let n = calls.load(Ordering::Relaxed);
    println!(
        "throughput: {n} calls in {secs} s = {:.0} calls/s through the client ({CALLERS} callers, governor off, {} errors)",
        n as f64 / secs as f64,
        errors.load(Ordering::Relaxed)
    );
    assert!(n > 0, "no status_report call succeeded");
    store.close().await.expect("close");
    println!(
        "VmHWM (whole run): {} MiB",
        common::status_kib("self", "VmHWM:") / 1024
    );
}
