//! A `zenalyze serve` child process listening on `127.0.0.1:0`, with the
//! bound addresses read from its JSON log lines on stderr. Binding port 0
//! in the server (rather than probing for a free port first) leaves no
//! window in which another process can take the port.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

pub struct ServeProcess {
    pub child: Child,
    /// The bound API address.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:PORT`, without a path.
    pub base: String,
    /// The `[metrics] listen` address, when one is configured.
    pub metrics: Option<SocketAddr>,
    stderr: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
    events: mpsc::Receiver<(String, SocketAddr)>,
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServeProcess {
    /// Spawns `cmd` (a `zenalyze serve` command whose listen addresses are
    /// `127.0.0.1:0`) with stderr captured, and waits up to 60 s for the
    /// "zenalyze serve started" log line. `Err` carries the exit status
    /// and stderr when the process stops first.
    pub fn start(mut cmd: Command) -> Result<ServeProcess, (ExitStatus, String)> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn zenalyze serve");
        let pipe = child.stderr.take().expect("stderr");
        let stderr = Arc::new(Mutex::new(String::new()));
        let (tx, events) = mpsc::channel();
        let sink = stderr.clone();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if let Some(event) = listening(&line) {
                    let _ = tx.send(event);
                }
                let mut all = sink.lock().unwrap_or_else(|e| e.into_inner());
                all.push_str(&line);
                all.push('\n');
            }
        });
        let mut serve = ServeProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            base: String::new(),
            metrics: None,
            stderr,
            reader: Some(reader),
            events,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match serve.events.recv_timeout(Duration::from_millis(100)) {
                Ok((message, addr)) if message == "metrics listener started" => {
                    serve.metrics = Some(addr)
                }
                Ok((message, addr)) if message == "zenalyze serve started" => {
                    serve.addr = addr;
                    serve.base = format!("http://{addr}");
                    return Ok(serve);
                }
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = serve.child.wait().expect("wait");
                    return Err((status, serve.final_stderr()));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    assert!(
                        Instant::now() < deadline,
                        "zenalyze serve did not start within 60 s; stderr:\n{}",
                        serve.stderr()
                    );
                }
            }
        }
    }

    /// Everything the process wrote to stderr: once it has exited, waits
    /// for the end of the stream; while it runs, what arrived so far.
    pub fn final_stderr(&mut self) -> String {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            if let Some(reader) = self.reader.take() {
                let _ = reader.join();
            }
        }
        self.stderr()
    }

    /// Everything the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// `(message, listen)` from a JSON log line that carries a `listen` field.
fn listening(line: &str) -> Option<(String, SocketAddr)> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let addr = v.get("listen")?.as_str()?.parse().ok()?;
    Some((v.get("message")?.as_str()?.to_owned(), addr))
}
