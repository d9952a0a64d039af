//! A throwaway MariaDB for the tests: one server per test process, started on first
//! use in a temp folder (as `nobody` when the tests run as root), on 127.0.0.1 with a
//! free port and on a Unix socket, utf8mb4. It dies with the test process: the
//! server gets PR_SET_PDEATHSIG from a thread that lives as long as the process, and
//! an exit handler kills it and removes its folder (a folder left by a test process
//! that was itself killed is swept by the next one).
//!
//! [`fresh_database`] gives each caller its own database and user; [`query`] reads
//! rows as strings. Without `mariadbd` a test skips ([`available`]), except under
//! `CI=true`, where that is a failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

/// The server's folder names start with this, then the test process's pid.
const DIR_PREFIX: &str = "numhubd-it-mariadb-";
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The running server: where to reach it.
pub struct Server {
    pub dir: PathBuf,
    pub socket: PathBuf,
    pub port: u16,
    pid: i32,
}

/// A database of its own, with its own user (all privileges on it, nothing else)
/// and a read-only user (`SELECT` on it), each with a random password in a 0600 file.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TestDatabase {
    /// `mysql://USER@127.0.0.1:PORT/NAME`
    pub url_tcp: String,
    /// `mysql://USER@localhost/NAME?socket=/path`
    pub url_socket: String,
    pub password_file: PathBuf,
    pub name: String,
    pub user: String,
    pub ro_user: String,
    pub ro_password_file: PathBuf,
    pub port: u16,
    pub socket: PathBuf,
}

impl TestDatabase {
    pub fn password(&self) -> String {
        read_password(&self.password_file)
    }

    pub fn ro_password(&self) -> String {
        read_password(&self.ro_password_file)
    }

    /// numhubd's store location for this database (its own user, TCP, no TLS).
    pub fn location(&self) -> numhubd::db::Location {
        numhubd::db::Location::Server(numhubd::db::Server {
            host: "127.0.0.1".into(),
            port: self.port,
            socket: None,
            user: self.user.clone(),
            database: self.name.clone(),
            password: Some(numhubd::db::Password::new(self.password())),
            tls: numhubd::db::Tls::Off,
        })
    }

    /// Connection options for this database's own user over TCP to `port` (the
    /// server's, or a proxy's in front of it).
    pub fn opts_via(&self, port: u16) -> mysql_async::Opts {
        mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(port)
            .user(Some(self.user.clone()))
            .pass(Some(self.password()))
            .db_name(Some(self.name.clone()))
            .prefer_socket(false)
            .into()
    }
}

fn read_password(path: &Path) -> String {
    std::fs::read_to_string(path)
        .expect("password file")
        .trim_end()
        .to_string()
}

/// Whether the tests can use MariaDB here. Prints why not, and fails under
/// `CI=true` (CI installs it).
pub fn available() -> bool {
    let found = mariadbd().is_some();
    if !found {
        eprintln!("skipped: mariadbd not found (install mariadb-server); MariaDB tests need it");
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI must have mariadbd (apt-get install mariadb-server)"
        );
    }
    found
}

/// The server, started on first use. Panics if it cannot start (or is missing:
/// callers that may skip check [`available`] first).
pub fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        assert!(available(), "MariaDB tests need mariadbd");
        start_server()
    })
}

fn mariadbd() -> Option<PathBuf> {
    [
        "/usr/sbin/mariadbd",
        "/usr/bin/mariadbd",
        "/usr/local/bin/mariadbd",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.exists())
}

/// The user the server runs as: `nobody` when we are root (mariadbd refuses root),
/// else ourselves.
fn server_user() -> Option<(u32, u32)> {
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    // SAFETY: getpwnam with a NUL-terminated name; the result is read at once,
    // before any other passwd call (tests start the server once, under a OnceLock).
    let pw = unsafe { libc::getpwnam(c"nobody".as_ptr()) };
    assert!(!pw.is_null(), "no user nobody to run mariadbd as");
    // SAFETY: pw is a valid passwd record (checked non-null above).
    Some(unsafe { ((*pw).pw_uid, (*pw).pw_gid) })
}

fn start_server() -> Server {
    sweep_stale_dirs();
    let dir = tempfile::Builder::new()
        .prefix(&format!("{DIR_PREFIX}{}-", std::process::id()))
        .tempdir()
        .expect("tempdir for mariadb")
        .keep();
    let user = server_user();
    if let Some((uid, gid)) = user {
        std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).expect("chown mariadb dir");
    }
    register_exit_cleanup(&dir);
    let started = Instant::now();
    install_db(&dir, user);
    let mut last_err = String::new();
    // The port is free when we look and taken when mariadbd binds it only if another
    // process raced us: try again with another one.
    for _ in 0..3 {
        let port = free_port();
        match spawn_server(&dir, port, user) {
            Ok(pid) => {
                let server = Server {
                    socket: dir.join("sock"),
                    dir,
                    port,
                    pid,
                };
                set_cleanup_pid(pid);
                eprintln!(
                    "mariadb: test server on 127.0.0.1:{port} and {}, ready in {:.1} s",
                    server.socket.display(),
                    started.elapsed().as_secs_f64()
                );
                return server;
            }
            Err(e) => last_err = e,
        }
    }
    panic!("mariadbd did not start: {last_err}");
}

/// Removes the folders of earlier test processes that are gone (killed before their
/// exit handler ran); their servers died with them (PR_SET_PDEATHSIG).
fn sweep_stale_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(DIR_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Runs `program` as the server's user, dying with this process.
fn as_server_user(program: &Path, user: Option<(u32, u32)>) -> Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(program);
    if let Some((uid, gid)) = user {
        // std drops supplementary groups, then setgid, setuid — before pre_exec,
        // which matters: a change of credentials clears the parent-death signal.
        cmd.uid(uid).gid(gid);
    }
    // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Room for many connections: the soft limit of open files up to the hard.
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
                lim.rlim_cur = lim.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            }
            // The parent may have died before prctl: then nobody would kill us.
            if libc::getppid() == 1 {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    cmd
}

fn common_args(dir: &Path) -> Vec<String> {
    vec![
        "--no-defaults".into(),
        format!("--datadir={}", dir.join("data").display()),
        // The server never crashes in these tests (numhubd does): what it has
        // acknowledged is what counts, so it need not wait for the disk.
        "--innodb-flush-log-at-trx-commit=2".into(),
        "--innodb-doublewrite=0".into(),
        "--innodb-buffer-pool-size=64M".into(),
        "--innodb-log-file-size=16M".into(),
        "--character-set-server=utf8mb4".into(),
        "--collation-server=utf8mb4_bin".into(),
    ]
}

fn install_db(dir: &Path, user: Option<(u32, u32)>) {
    let out = as_server_user(Path::new("mariadb-install-db"), user)
        .args(common_args(dir))
        .args([
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run mariadb-install-db");
    assert!(
        out.status.success(),
        "mariadb-install-db failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts mariadbd from a thread that lives as long as the process (the
/// parent-death signal follows the thread that forked, and test threads end), and
/// waits until it answers on its socket. Returns its pid.
fn spawn_server(dir: &Path, port: u16, user: Option<(u32, u32)>) -> Result<i32, String> {
    let mut cmd = as_server_user(&mariadbd().expect("mariadbd"), user);
    cmd.args(common_args(dir))
        .arg(format!("--socket={}", dir.join("sock").display()))
        .arg(format!("--port={port}"))
        .arg("--bind-address=127.0.0.1")
        .arg(format!("--pid-file={}", dir.join("pid").display()))
        .arg(format!("--log-error={}", dir.join("err.log").display()))
        .arg("--skip-name-resolve")
        // Every daemon of a parallel test run holds a pool.
        .arg("--max-connections=2000")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("mariadbd-keeper".into())
        .spawn(move || match cmd.spawn() {
            Ok(mut child) => {
                let _ = tx.send(Ok(child.id()));
                let _ = child.wait();
            }
            Err(e) => {
                let _ = tx.send(Err(e.to_string()));
            }
        })
        .expect("keeper thread");
    let pid = rx.recv().expect("keeper answers")?;
    let pid = i32::try_from(pid).expect("pid fits i32");
    wait_ready(dir, port, pid)?;
    Ok(pid)
}

fn wait_ready(dir: &Path, port: u16, pid: i32) -> Result<(), String> {
    let start = Instant::now();
    while start.elapsed() < START_TIMEOUT {
        if is_zombie(pid) {
            return Err(format!(
                "mariadbd exited; {}:\n{}",
                dir.join("err.log").display(),
                std::fs::read_to_string(dir.join("err.log")).unwrap_or_default()
            ));
        }
        let probe = admin_opts(&dir.join("sock"));
        if block_on(async move {
            let conn = mysql_async::Conn::new(probe).await?;
            conn.disconnect().await
        })
        .is_ok()
            && std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("mariadbd not ready after {START_TIMEOUT:?}"))
}

/// Whether `pid` is gone or a zombie (dead, not yet reaped by its keeper thread).
pub fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
        .unwrap_or(true)
}

/// What the exit handler cleans up: the server's folder and, once started, its pid.
static CLEANUP: Mutex<(Option<PathBuf>, Option<i32>)> = Mutex::new((None, None));

/// At exit (the test harness returns from main): kill the server, remove its folder.
fn register_exit_cleanup(dir: &Path) {
    extern "C" fn cleanup() {
        let (dir, pid) = match CLEANUP.lock() {
            Ok(mut g) => std::mem::take(&mut *g),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        };
        if let Some(pid) = pid {
            // SAFETY: kill(2) on the server we started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let gone = Instant::now();
            while !is_zombie(pid) && gone.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        if let Some(dir) = dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
    CLEANUP.lock().expect("cleanup lock").0 = Some(dir.to_path_buf());
    // SAFETY: registers a plain extern "C" function.
    unsafe { libc::atexit(cleanup) };
}

fn set_cleanup_pid(pid: i32) {
    CLEANUP.lock().expect("cleanup lock").1 = Some(pid);
}

fn admin_opts(socket: &Path) -> mysql_async::Opts {
    mysql_async::OptsBuilder::default()
        .ip_or_hostname("localhost")
        .socket(Some(socket.display().to_string()))
        .user(Some("root"))
        .into()
}

/// Runs `fut` to completion on this module's runtime (one for the process, so a
/// connection opened in one call works in the next) from a thread of its own, so it
/// works from plain and from async tests alike.
pub fn block_on<T: Send>(fut: impl std::future::Future<Output = T> + Send) -> T {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let rt = RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("mariadb-support")
            .enable_all()
            .build()
            .expect("runtime")
    });
    std::thread::scope(|s| {
        s.spawn(|| rt.block_on(fut))
            .join()
            .expect("block_on thread")
    })
}

/// Runs `sql` (statements separated by `;`) as root.
fn admin(sql: String) {
    let opts = admin_opts(&server().socket);
    block_on(async move {
        let mut conn = mysql_async::Conn::new(opts).await?;
        conn.query_drop(sql).await?;
        conn.disconnect().await
    })
    .expect("admin statement on the test server");
}

fn random_password() -> String {
    let mut rng = fastrand::Rng::new();
    (0..24).map(|_| rng.alphanumeric()).collect::<String>()
}

fn write_secret(path: &Path, secret: &str) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .expect("password file");
    writeln!(f, "{secret}").expect("write password");
}

/// A new database (utf8mb4, binary collation) with its own user and a read-only one.
pub fn fresh_database() -> TestDatabase {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let s = server();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!("t{n}");
    let user = format!("u{n}");
    let ro_user = format!("u{n}_ro");
    let secrets = s.dir.join("secrets");
    std::fs::create_dir_all(&secrets).expect("secrets dir");
    let password_file = secrets.join(format!("{user}.password"));
    let ro_password_file = secrets.join(format!("{ro_user}.password"));
    let (pw, ro_pw) = (random_password(), random_password());
    write_secret(&password_file, &pw);
    write_secret(&ro_password_file, &ro_pw);
    // `%` covers both TCP from 127.0.0.1 and the socket (host `localhost`): the
    // server has no anonymous user that would match first.
    admin(format!(
        "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;\
         CREATE USER '{user}'@'%' IDENTIFIED BY '{pw}';\
         GRANT ALL ON `{name}`.* TO '{user}'@'%';\
         CREATE USER '{ro_user}'@'%' IDENTIFIED BY '{ro_pw}';\
         GRANT SELECT ON `{name}`.* TO '{ro_user}'@'%'"
    ));
    TestDatabase {
        url_tcp: format!("mysql://{user}@127.0.0.1:{}/{name}", s.port),
        url_socket: format!(
            "mysql://{user}@localhost/{name}?socket={}",
            s.socket.display()
        ),
        password_file,
        name,
        user,
        ro_user,
        ro_password_file,
        port: s.port,
        socket: s.socket.clone(),
    }
}

/// The rows `sql` returns in `db` (read as root over the socket), each value as text
/// (`None` for NULL).
pub fn query(db: &TestDatabase, sql: &str) -> Vec<Vec<Option<String>>> {
    let opts =
        mysql_async::OptsBuilder::from_opts(admin_opts(&db.socket)).db_name(Some(db.name.clone()));
    let sql = sql.to_string();
    let rows = block_on(async move {
        let mut conn = mysql_async::Conn::new(opts).await?;
        let rows: Vec<mysql_async::Row> = conn.query(sql).await?;
        conn.disconnect().await?;
        Ok::<_, mysql_async::Error>(rows)
    });
    match rows {
        Ok(rows) => rows
            .into_iter()
            .map(|r| r.unwrap().into_iter().map(text).collect())
            .collect(),
        Err(e) => panic!("query on {}: {e}", db.name),
    }
}

/// Runs `sql` (one or more statements) in `db` as root.
pub fn execute(db: &TestDatabase, sql: &str) {
    let opts =
        mysql_async::OptsBuilder::from_opts(admin_opts(&db.socket)).db_name(Some(db.name.clone()));
    let sql = sql.to_string();
    block_on(async move {
        let mut conn = mysql_async::Conn::new(opts).await?;
        conn.query_drop(sql).await?;
        conn.disconnect().await
    })
    .unwrap_or_else(|e| panic!("execute on {}: {e}", db.name));
}

/// A value as text: the text protocol sends bytes; the rest for completeness.
pub fn text(v: mysql_async::Value) -> Option<String> {
    use mysql_async::Value;
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Double(d) => Some(d.to_string()),
        other => Some(other.as_sql(true).trim_matches('\'').to_string()),
    }
}

/// The test server's pid (for the tests of this module).
pub fn server_pid() -> i32 {
    server().pid
}
