//! Test helpers: a Redis to talk to (the shared one, or a private
//! `redis-server` on a free loopback port) and unique key prefixes.
#![allow(dead_code)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A `redis-server` child process, killed on drop.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts `redis-server` on `port` (no persistence) and waits until it
    /// answers (at most 5 s).
    pub fn start(port: u16) -> RedisServer {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        let server = RedisServer {
            port,
            child: Some(child),
        };
        server.wait_ready();
        server
    }

    /// Starts one on a free port.
    pub fn start_free() -> RedisServer {
        Self::start(free_port())
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if ping_blocking(&self.url()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    /// Kills the server (SIGKILL) and waits for it to exit.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// True when a Redis at `url` answers PING within 1 s.
pub fn ping_blocking(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_secs(1)) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(1)));
    redis::cmd("PING").query::<String>(&mut conn).is_ok()
}

/// The Redis the shared-state tests use: `ZENALYZE_TEST_REDIS_URL` (must
/// answer), else `redis://127.0.0.1:6379` if it answers, else a private
/// `redis-server` (returned so that it lives as long as the test).
pub fn test_redis() -> (String, Option<RedisServer>) {
    if let Ok(url) = std::env::var("ZENALYZE_TEST_REDIS_URL") {
        assert!(
            ping_blocking(&url),
            "ZENALYZE_TEST_REDIS_URL={url} does not answer PING"
        );
        return (url, None);
    }
    let default = "redis://127.0.0.1:6379";
    if ping_blocking(default) {
        return (default.to_owned(), None);
    }
    let server = RedisServer::start_free();
    (server.url(), Some(server))
}

/// A key prefix no other test (or run) uses.
pub fn unique_prefix(name: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "zltest:{name}:{}:{nanos}:{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}
