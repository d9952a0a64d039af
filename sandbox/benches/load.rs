//! Load benchmark (not a timed test): requests/s of an authenticated GET over loopback
//! with N keep-alive connections, and peak RSS while streaming a large upload.
//!
//!     cargo bench -p numhub-sandbox --bench load -- [--connections N] [--secs S] [--upload-mib M]
//!
//! The sandbox runs in this process; the client is raw HTTP/1.1 over tokio TCP so the
//! numbers measure the server, not a client library.
//!
//! `NUMHUBD_BENCH_SMOKE=1` is the smoke mode numhubd's CI runs (`.ci/run`): 4
//! connections for 1 s and a 1 MiB upload (flags still override); seconds, and its
//! figures mean nothing. A refused upload fails the bench in either mode.

use std::time::{Duration, Instant};

use numhub_sandbox::SandboxConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Opts {
    connections: usize,
    secs: u64,
    upload_mib: u64,
}

fn opts() -> Opts {
    let smoke = std::env::var("NUMHUBD_BENCH_SMOKE").is_ok_and(|v| v == "1");
    let mut o = if smoke {
        Opts {
            connections: 4,
            secs: 1,
            upload_mib: 1,
        }
    } else {
        Opts {
            connections: 32,
            secs: 10,
            upload_mib: 1024,
        }
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let next = args.get(i + 1).and_then(|v| v.parse::<u64>().ok());
        match (args[i].as_str(), next) {
            ("--connections", Some(v)) => o.connections = v as usize,
            ("--secs", Some(v)) => o.secs = v,
            ("--upload-mib", Some(v)) => o.upload_mib = v,
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    o
}

fn status_kib(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

async fn token(base_addr: &str) -> String {
    let http = format!(
        "POST /api/v1/authorize/token?Email=demo@numhub.test&Password=demo-password HTTP/1.1\r\nHost: {base_addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    let mut s = TcpStream::connect(base_addr).await.expect("connect");
    s.write_all(http.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf);
    let start = text.find("\"accessToken\":\"").expect("token in answer") + 15;
    let end = text[start..].find('"').expect("token end") + start;
    text[start..end].to_owned()
}

/// Reads one HTTP/1.1 answer (Content-Length framed) and returns its status.
async fn read_answer(s: &mut TcpStream, buf: &mut Vec<u8>) -> u16 {
    loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..pos]).to_ascii_lowercase();
            let status: u16 = head[9..12].parse().unwrap_or(0);
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            let total = pos + 4 + len;
            while buf.len() < total {
                let mut chunk = [0u8; 16384];
                let n = s.read(&mut chunk).await.expect("read body");
                assert!(n > 0, "connection closed mid-answer");
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..total);
            return status;
        }
        let mut chunk = [0u8; 16384];
        let n = s.read(&mut chunk).await.expect("read head");
        assert!(n > 0, "connection closed");
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn throughput(addr: &str, token: &str, connections: usize, secs: u64) -> (u64, f64) {
    let request = format!(
        "GET /api/v1/reports/status HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nclient-id: 1001\r\n\r\n"
    );
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let request = request.clone();
        let addr = addr.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(&addr).await.expect("connect");
            s.set_nodelay(true).ok();
            let mut buf = Vec::new();
            let mut done = 0u64;
            while Instant::now() < deadline {
                s.write_all(request.as_bytes()).await.expect("write");
                let status = read_answer(&mut s, &mut buf).await;
                assert_eq!(status, 200);
                done += 1;
            }
            done
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("client task");
    }
    (total, started.elapsed().as_secs_f64())
}

/// Streams a `mib` MiB PDF-looking file as multipart, generated on the fly.
async fn upload(addr: &str, token: &str, entity: &str, mib: u64) -> (u16, f64) {
    let boundary = "sandboxbenchboundary";
    let pre = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"DocumentType\"\r\n\r\nDOCUMENTS\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"Files\"; filename=\"big.pdf\"\r\nContent-Type: application/pdf\r\n\r\n"
    );
    let post = format!("\r\n--{boundary}--\r\n");
    let size = mib * 1024 * 1024;
    let len = pre.len() as u64 + size + post.len() as u64;
    let head = format!(
        "POST /api/v1/application/{entity}/documents HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nclient-id: 1001\r\nContent-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len}\r\n\r\n"
    );
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let t = Instant::now();
    s.write_all(head.as_bytes()).await.expect("write");
    s.write_all(pre.as_bytes()).await.expect("write");
    let mut chunk = vec![b'x'; 256 * 1024];
    chunk[..8].copy_from_slice(b"%PDF-1.7");
    let mut sent = 0u64;
    while sent < size {
        let n = (size - sent).min(chunk.len() as u64) as usize;
        s.write_all(&chunk[..n]).await.expect("write body");
        if sent == 0 {
            chunk[..8].copy_from_slice(b"xxxxxxxx");
        }
        sent += n as u64;
    }
    s.write_all(post.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    let status = read_answer(&mut s, &mut buf).await;
    (status, t.elapsed().as_secs_f64())
}

fn main() {
    let o = opts();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let config = SandboxConfig {
            rate_limit: 0,
            max_file_bytes: 4 * 1024 * 1024 * 1024,
            ..SandboxConfig::default()
        };
        let sb = numhub_sandbox::start("127.0.0.1:0".parse().expect("addr"), config)
            .await
            .expect("start");
        let addr = sb.addr().to_string();
        let token = token(&addr).await;
        let entity = sb.seed_applications(1001, 1)[0].to_string();

        // Upload first, so the RSS peak is not the throughput run's.
        let before = status_kib("VmRSS:");
        let sampler_stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop = sampler_stop.clone();
        let sampler = std::thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(status_kib("VmRSS:"));
                std::thread::sleep(Duration::from_millis(20));
            }
            peak
        });
        let (status, secs) = upload(&addr, &token, &entity, o.upload_mib).await;
        sampler_stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let peak = sampler.join().unwrap_or(0);
        println!(
            "upload: {} MiB streamed in {secs:.1} s ({:.0} MiB/s), status {status}; VmRSS before {} MiB, peak during {} MiB (+{} MiB)",
            o.upload_mib,
            o.upload_mib as f64 / secs,
            before / 1024,
            peak / 1024,
            peak.saturating_sub(before) / 1024
        );

        assert_eq!(status, 200, "the upload was refused");

        let (n, secs) = throughput(&addr, &token, o.connections, o.secs).await;
        assert!(n > 0, "no request answered");
        println!(
            "throughput: GET /api/v1/reports/status, {} keep-alive connections, {secs:.1} s: {n} requests, {:.0} req/s",
            o.connections,
            n as f64 / secs
        );
        println!("VmHWM (whole run): {} MiB", status_kib("VmHWM:") / 1024);
        sb.shutdown().await;
    });
}
