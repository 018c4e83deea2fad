//! Egress for the Zenalyze enclave.
//!
//! * [`serve`]: the parent-side proxy (`zenalyze egress-proxy`). It accepts
//!   HTTP `CONNECT host:port` tunnels over the transport abstraction (vsock
//!   in Nitro, tcp/unix in development), refuses every destination that is
//!   not exactly on the allowlist, resolves allowed names itself and
//!   connects only to the addresses it resolved (so a client cannot smuggle
//!   its own resolution), refuses private/loopback/link-local results unless
//!   told otherwise, and then only copies bytes: TLS ends inside the
//!   enclave, the proxy sees ciphertext.
//! * [`enclave_http_client`]: the enclave-side `reqwest` client whose only
//!   way out is that proxy, reached through the transport abstraction (a
//!   loopback shim pipes reqwest's proxy connections to vsock/unix).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use zenalyze_transport::{connect, Address, Listener, Stream};

/// Largest accepted CONNECT request head.
pub const MAX_HEAD: usize = 8 * 1024;

/// One allowed destination.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Destination {
    /// Lowercase DNS name or IP literal (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl fmt::Display for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// Why a destination or allowlist does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DestinationError {
    /// Not `host:port`.
    #[error("destination must be host:port")]
    Syntax,
    /// Port missing, zero or out of range.
    #[error("destination port must be 1..=65535")]
    Port,
    /// Host is not a DNS name or IP literal.
    #[error("destination host is not a valid DNS name or IP literal")]
    Host,
    /// Empty allowlist.
    #[error("the allowlist is empty")]
    Empty,
}

fn valid_dns_name(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl FromStr for Destination {
    type Err = DestinationError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, p) = rest.split_once("]:").ok_or(DestinationError::Syntax)?;
            let ip: std::net::Ipv6Addr = h.parse().map_err(|_| DestinationError::Host)?;
            (ip.to_string(), p)
        } else {
            let (h, p) = s.rsplit_once(':').ok_or(DestinationError::Syntax)?;
            if h.contains(':') {
                return Err(DestinationError::Syntax);
            }
            let h = h.to_ascii_lowercase();
            if h.parse::<std::net::Ipv4Addr>().is_err() && !valid_dns_name(&h) {
                return Err(DestinationError::Host);
            }
            (h, p)
        };
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DestinationError::Port);
        }
        let port: u16 = port.parse().map_err(|_| DestinationError::Port)?;
        if port == 0 {
            return Err(DestinationError::Port);
        }
        Ok(Destination { host, port })
    }
}

impl Destination {
    /// The host as an IP literal, if it is one.
    pub fn ip(&self) -> Option<IpAddr> {
        self.host.parse().ok()
    }
}

/// The exact `host:port` destinations the proxy may reach.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowlist(BTreeSet<Destination>);

impl FromStr for Allowlist {
    type Err = DestinationError;

    /// Parses `host:port,host:port,…` (surrounding spaces ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let set: BTreeSet<Destination> = s
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(Destination::from_str)
            .collect::<Result<_, _>>()?;
        if set.is_empty() {
            return Err(DestinationError::Empty);
        }
        Ok(Allowlist(set))
    }
}

impl Allowlist {
    /// The platform's default: OpenAI and Anthropic over HTTPS.
    pub fn default_ai() -> Self {
        Allowlist(
            ["api.openai.com:443", "api.anthropic.com:443"]
                .iter()
                .filter_map(|d| d.parse().ok())
                .collect(),
        )
    }

    /// Whether `dest` is on the list (exact host and port).
    pub fn allows(&self, dest: &Destination) -> bool {
        self.0.contains(dest)
    }

    /// The entries.
    pub fn entries(&self) -> impl Iterator<Item = &Destination> {
        self.0.iter()
    }
}

/// Proxy settings.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// Allowed destinations.
    pub allow: Allowlist,
    /// Refuse names that resolve to loopback, private, link-local,
    /// unspecified or other non-global addresses (default `true`; turn off
    /// only for development against local servers).
    pub deny_private: bool,
    /// Timeout of reading the CONNECT head and of connecting upstream.
    pub connect_timeout: Duration,
    /// A tunnel idle this long in both directions is closed.
    pub idle_timeout: Duration,
}

impl ProxyConfig {
    /// Defaults around an allowlist.
    pub fn new(allow: Allowlist) -> Self {
        Self {
            allow,
            deny_private: true,
            connect_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
        }
    }
}

/// Whether an address is private, loopback or otherwise not a public
/// Internet destination.
pub fn is_non_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64/10 shared
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18/15 benchmarking
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_non_global(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || s[0] == 0x0064 // NAT64 well-known prefix
        }
    }
}

/// Why a tunnel was refused (the status line sent back).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    BadRequest,
    Method,
    Forbidden,
    BadGateway,
    Timeout,
}

impl Refusal {
    fn status_line(self) -> &'static str {
        match self {
            Refusal::BadRequest => "HTTP/1.1 400 Bad Request",
            Refusal::Method => "HTTP/1.1 405 Method Not Allowed",
            Refusal::Forbidden => "HTTP/1.1 403 Forbidden",
            Refusal::BadGateway => "HTTP/1.1 502 Bad Gateway",
            Refusal::Timeout => "HTTP/1.1 504 Gateway Timeout",
        }
    }
}

/// Parses a CONNECT head. Returns the destination.
fn parse_head(head: &[u8]) -> Result<Destination, Refusal> {
    let text = std::str::from_utf8(head).map_err(|_| Refusal::BadRequest)?;
    let line = text.split("\r\n").next().ok_or(Refusal::BadRequest)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refusal::BadRequest);
    };
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(Refusal::BadRequest);
    }
    if method != "CONNECT" {
        return Err(Refusal::Method);
    }
    target.parse().map_err(|_| Refusal::BadRequest)
}

async fn read_head(stream: &mut Stream) -> Result<(Vec<u8>, Vec<u8>), Refusal> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(end + 4);
            return Ok((buf, rest));
        }
        if buf.len() >= MAX_HEAD {
            return Err(Refusal::BadRequest);
        }
        let n = stream
            .read(&mut chunk)
            .await
            .map_err(|_| Refusal::BadRequest)?;
        if n == 0 {
            return Err(Refusal::BadRequest);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn resolve(dest: &Destination, cfg: &ProxyConfig) -> Result<Vec<SocketAddr>, Refusal> {
    let addrs: Vec<SocketAddr> = match dest.ip() {
        Some(ip) => vec![SocketAddr::new(ip, dest.port)],
        None => tokio::time::timeout(
            cfg.connect_timeout,
            tokio::net::lookup_host((dest.host.as_str(), dest.port)),
        )
        .await
        .map_err(|_| Refusal::Timeout)?
        .map_err(|_| Refusal::BadGateway)?
        .collect(),
    };
    if addrs.is_empty() {
        return Err(Refusal::BadGateway);
    }
    if cfg.deny_private && addrs.iter().any(|a| is_non_global(a.ip())) {
        return Err(Refusal::Forbidden);
    }
    Ok(addrs)
}

async fn open_upstream(
    addrs: &[SocketAddr],
    cfg: &ProxyConfig,
) -> Result<tokio::net::TcpStream, Refusal> {
    let mut last = Refusal::BadGateway;
    for a in addrs {
        match tokio::time::timeout(cfg.connect_timeout, tokio::net::TcpStream::connect(a)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Ok(Err(_)) => last = Refusal::BadGateway,
            Err(_) => last = Refusal::Timeout,
        }
    }
    Err(last)
}

async fn refuse(stream: &mut Stream, r: Refusal) {
    let msg = format!(
        "{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        r.status_line()
    );
    let _ = stream.write_all(msg.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Handles one client connection: CONNECT, allowlist, resolve, tunnel.
pub async fn handle_connection(mut stream: Stream, cfg: Arc<ProxyConfig>) {
    let started = Instant::now();
    let head = tokio::time::timeout(cfg.connect_timeout, read_head(&mut stream)).await;
    let (head, early) = match head {
        Ok(Ok(h)) => h,
        Ok(Err(r)) => return refuse(&mut stream, r).await,
        Err(_) => return refuse(&mut stream, Refusal::Timeout).await,
    };
    let dest = match parse_head(&head) {
        Ok(d) => d,
        Err(r) => {
            tracing::warn!(
                status = r.status_line(),
                "egress: malformed request refused"
            );
            return refuse(&mut stream, r).await;
        }
    };
    if !cfg.allow.allows(&dest) {
        tracing::warn!(destination = %dest, "egress: destination not on the allowlist");
        return refuse(&mut stream, Refusal::Forbidden).await;
    }
    let upstream = match resolve(&dest, &cfg).await {
        Ok(addrs) => open_upstream(&addrs, &cfg).await,
        Err(r) => Err(r),
    };
    let mut upstream = match upstream {
        Ok(u) => u,
        Err(r) => {
            tracing::warn!(destination = %dest, status = r.status_line(), "egress: upstream refused");
            return refuse(&mut stream, r).await;
        }
    };
    if stream
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await
        .is_err()
    {
        return;
    }
    if !early.is_empty() && upstream.write_all(&early).await.is_err() {
        return;
    }
    let copied = tunnel(&mut stream, &mut upstream, cfg.idle_timeout).await;
    tracing::info!(
        destination = %dest,
        to_upstream = copied.0,
        to_client = copied.1,
        duration_ms = started.elapsed().as_millis() as u64,
        "egress: tunnel closed"
    );
}

/// Copies both ways until both sides close or nothing moves for `idle`.
async fn tunnel(a: &mut Stream, b: &mut tokio::net::TcpStream, idle: Duration) -> (u64, u64) {
    let (mut ar, mut aw) = tokio::io::split(a);
    let (mut br, mut bw) = b.split();
    let up = async {
        let mut total = 0u64;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match tokio::time::timeout(idle, ar.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(n)) => {
                    if bw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    total += n as u64;
                }
            }
        }
        let _ = bw.shutdown().await;
        total
    };
    let down = async {
        let mut total = 0u64;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match tokio::time::timeout(idle, br.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                Ok(Ok(n)) => {
                    if aw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    total += n as u64;
                }
            }
        }
        let _ = aw.shutdown().await;
        total
    };
    tokio::join!(up, down)
}

/// Serves the proxy on `listener` forever.
pub async fn serve(listener: Listener, cfg: ProxyConfig) -> io::Result<()> {
    let cfg = Arc::new(cfg);
    loop {
        let (stream, _) = match listener.accept_one().await {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(error = %e, "egress: accept failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        tokio::spawn(handle_connection(stream, cfg.clone()));
    }
}

/// A loopback TCP listener inside the enclave that pipes every connection
/// to the egress proxy through the transport abstraction (vsock in Nitro).
/// reqwest speaks to it as its HTTP proxy.
#[derive(Debug)]
pub struct LocalShim {
    /// The loopback address reqwest uses as proxy.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LocalShim {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a [`LocalShim`] towards `proxy`.
pub async fn start_local_shim(proxy: Address) -> io::Result<LocalShim> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut local, _)) = listener.accept().await else {
                continue;
            };
            let proxy = proxy.clone();
            tokio::spawn(async move {
                match connect(&proxy).await {
                    Ok(mut remote) => {
                        let _ = tokio::io::copy_bidirectional(&mut local, &mut remote).await;
                    }
                    Err(e) => tracing::error!(error = %e, "egress shim: proxy unreachable"),
                }
            });
        }
    });
    Ok(LocalShim { addr, task })
}

/// An HTTPS-only reqwest client whose only way out is the egress proxy at
/// `proxy` (TLS ends in this process). For `tcp:` proxies reqwest dials the
/// proxy directly; for `unix:`/`vsock:` a [`LocalShim`] is started and must
/// be kept alive as long as the client.
pub async fn enclave_http_client(
    proxy: &Address,
    builder: reqwest::ClientBuilder,
) -> io::Result<(reqwest::Client, Option<LocalShim>)> {
    let (url, shim) = match proxy {
        Address::Tcp { host, port } if host.contains(':') => {
            (format!("http://[{host}]:{port}"), None)
        }
        Address::Tcp { host, port } => (format!("http://{host}:{port}"), None),
        other => {
            let shim = start_local_shim(other.clone()).await?;
            (format!("http://{}", shim.addr), Some(shim))
        }
    };
    let proxy = reqwest::Proxy::all(&url).map_err(io::Error::other)?;
    let client = builder
        .proxy(proxy)
        .https_only(true)
        .build()
        .map_err(io::Error::other)?;
    Ok((client, shim))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowlist_parsing() {
        let a: Allowlist = "api.openai.com:443, API.Anthropic.com:443,[::1]:8443,10.0.0.1:80"
            .parse()
            .unwrap();
        assert!(a.allows(&"api.openai.com:443".parse().unwrap()));
        assert!(a.allows(&"api.anthropic.com:443".parse().unwrap()));
        assert!(a.allows(&"[::1]:8443".parse().unwrap()));
        assert!(!a.allows(&"api.openai.com:80".parse().unwrap()));
        assert!(!a.allows(&"evil.api.openai.com:443".parse().unwrap()));
        assert!(!a.allows(&"104.18.7.192:443".parse().unwrap()));
        for bad in [
            "",
            "host",
            "host:0",
            "host:x",
            "host:70000",
            "ho st:1",
            "-a.com:1",
            "a..b:1",
            "::1:80",
            "[zz]:1",
            "api.openai.com.:443",
        ] {
            assert!(bad.parse::<Allowlist>().is_err(), "{bad}");
        }
        assert!(Allowlist::default_ai().allows(&"api.openai.com:443".parse().unwrap()));
    }

    #[test]
    fn head_parsing() {
        assert_eq!(
            parse_head(b"CONNECT api.openai.com:443 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap(),
            "api.openai.com:443".parse().unwrap()
        );
        assert_eq!(
            parse_head(b"GET http://x/ HTTP/1.1\r\n\r\n").unwrap_err(),
            Refusal::Method
        );
        assert_eq!(
            parse_head(b"CONNECT a:1 HTTP/1.1 x\r\n\r\n").unwrap_err(),
            Refusal::BadRequest
        );
        assert_eq!(
            parse_head(b"CONNECT user@a:1 HTTP/1.1\r\n\r\n").unwrap_err(),
            Refusal::BadRequest
        );
    }

    #[test]
    fn non_global_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_non_global(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["104.18.7.192", "2606:4700::6810:7c0"] {
            assert!(!is_non_global(ip.parse().unwrap()), "{ip}");
        }
    }
}
