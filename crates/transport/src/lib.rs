//! One transport for the Zenalyze enclave and its peers.
//!
//! Addresses are written `vsock:CID:PORT` / `vsock:PORT` (Linux vsock, AWS
//! Nitro Enclaves; needs the `vsock` cargo feature), `unix:PATH` or
//! `tcp:HOST:PORT`. The same code listens ([`Listener`], an
//! [`axum::serve::Listener`]) and connects ([`connect`], and [`Connector`],
//! a `tower::Service<Uri>` usable by a `hyper_util` client), so development
//! reaches the enclave over a local socket through the same code as vsock.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::str::FromStr;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};

/// vsock CID of the parent instance as seen from inside a Nitro enclave.
pub const VSOCK_CID_PARENT: u32 = 3;
/// vsock CID wildcard for listening (`VMADDR_CID_ANY`).
pub const VSOCK_CID_ANY: u32 = u32::MAX;

/// A transport address.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Address {
    /// TCP `host:port` (an IP literal or a name; listening needs an IP literal
    /// or `localhost`).
    Tcp {
        /// Host name or IP literal (IPv6 without brackets).
        host: String,
        /// Port.
        port: u16,
    },
    /// A Unix domain socket path.
    Unix(PathBuf),
    /// Linux vsock `cid:port`. `vsock:PORT` means [`VSOCK_CID_ANY`] when
    /// listening and [`VSOCK_CID_PARENT`] when connecting.
    Vsock {
        /// Context id, `None` when written `vsock:PORT`.
        cid: Option<u32>,
        /// Port.
        port: u32,
    },
}

/// Why an address string does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// No `scheme:` prefix.
    #[error("address needs a scheme: vsock:CID:PORT, vsock:PORT, unix:PATH or tcp:HOST:PORT")]
    MissingScheme,
    /// A scheme other than vsock, unix, tcp.
    #[error("unknown address scheme (expected vsock, unix or tcp)")]
    UnknownScheme,
    /// Malformed `tcp:HOST:PORT`.
    #[error("invalid tcp address (expected tcp:HOST:PORT)")]
    InvalidTcp,
    /// Empty unix path.
    #[error("unix address needs a path")]
    EmptyPath,
    /// Malformed `vsock:CID:PORT` / `vsock:PORT`.
    #[error("invalid vsock address (expected vsock:CID:PORT or vsock:PORT)")]
    InvalidVsock,
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (scheme, rest) = s.split_once(':').ok_or(AddressError::MissingScheme)?;
        match scheme {
            "tcp" => parse_tcp(rest),
            "unix" => {
                if rest.is_empty() {
                    Err(AddressError::EmptyPath)
                } else {
                    Ok(Address::Unix(PathBuf::from(rest)))
                }
            }
            "vsock" => {
                let num = |t: &str| {
                    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                        return Err(AddressError::InvalidVsock);
                    }
                    t.parse::<u32>().map_err(|_| AddressError::InvalidVsock)
                };
                match rest.split_once(':') {
                    Some((cid, port)) => Ok(Address::Vsock {
                        cid: Some(num(cid)?),
                        port: num(port)?,
                    }),
                    None => Ok(Address::Vsock {
                        cid: None,
                        port: num(rest)?,
                    }),
                }
            }
            _ => Err(AddressError::UnknownScheme),
        }
    }
}

fn parse_tcp(rest: &str) -> Result<Address, AddressError> {
    if let Ok(sa) = rest.parse::<SocketAddr>() {
        return Ok(Address::Tcp {
            host: sa.ip().to_string(),
            port: sa.port(),
        });
    }
    let (host, port) = rest.rsplit_once(':').ok_or(AddressError::InvalidTcp)?;
    if host.is_empty()
        || host.contains(':')
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
    {
        return Err(AddressError::InvalidTcp);
    }
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AddressError::InvalidTcp);
    }
    let port = port.parse::<u16>().map_err(|_| AddressError::InvalidTcp)?;
    Ok(Address::Tcp {
        host: host.to_ascii_lowercase(),
        port,
    })
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp { host, port } if host.contains(':') => write!(f, "tcp:[{host}]:{port}"),
            Address::Tcp { host, port } => write!(f, "tcp:{host}:{port}"),
            Address::Unix(p) => write!(f, "unix:{}", p.display()),
            Address::Vsock { cid: Some(c), port } => write!(f, "vsock:{c}:{port}"),
            Address::Vsock { cid: None, port } => write!(f, "vsock:{port}"),
        }
    }
}

impl Address {
    /// `tcp:` address of a socket address.
    pub fn tcp(addr: SocketAddr) -> Self {
        Address::Tcp {
            host: addr.ip().to_string(),
            port: addr.port(),
        }
    }

    fn tcp_target(host: &str, port: u16) -> String {
        if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    }
}

#[cfg(not(feature = "vsock"))]
fn vsock_unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "vsock support not compiled in (cargo feature `vsock`)",
    )
}

/// A connected byte stream over any transport.
#[derive(Debug)]
pub enum Stream {
    /// TCP.
    Tcp(TcpStream),
    /// Unix domain socket.
    Unix(UnixStream),
    /// Linux vsock.
    #[cfg(feature = "vsock")]
    Vsock(tokio_vsock::VsockStream),
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::Tcp($s) => $e,
            Stream::Unix($s) => $e,
            #[cfg(feature = "vsock")]
            Stream::Vsock($s) => $e,
        }
    };
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_shutdown(cx))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Tcp(s) => s.is_write_vectored(),
            Stream::Unix(s) => s.is_write_vectored(),
            #[cfg(feature = "vsock")]
            Stream::Vsock(s) => s.is_write_vectored(),
        }
    }
}

impl hyper_util::client::legacy::connect::Connection for Stream {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        hyper_util::client::legacy::connect::Connected::new()
    }
}

/// Peer address of an accepted connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerAddr {
    /// TCP peer.
    Tcp(SocketAddr),
    /// Unix peer (usually unnamed).
    Unix,
    /// vsock peer.
    Vsock {
        /// Peer context id.
        cid: u32,
        /// Peer port.
        port: u32,
    },
}

/// Connects to `address`. `vsock:PORT` connects to the parent (CID 3).
pub async fn connect(address: &Address) -> io::Result<Stream> {
    match address {
        Address::Tcp { host, port } => {
            let s = TcpStream::connect(Address::tcp_target(host, *port)).await?;
            s.set_nodelay(true)?;
            Ok(Stream::Tcp(s))
        }
        Address::Unix(p) => Ok(Stream::Unix(UnixStream::connect(p).await?)),
        #[cfg(feature = "vsock")]
        Address::Vsock { cid, port } => {
            let addr = tokio_vsock::VsockAddr::new(cid.unwrap_or(VSOCK_CID_PARENT), *port);
            Ok(Stream::Vsock(
                tokio_vsock::VsockStream::connect(addr).await?,
            ))
        }
        #[cfg(not(feature = "vsock"))]
        Address::Vsock { .. } => Err(vsock_unsupported()),
    }
}

/// A listener on any transport; an [`axum::serve::Listener`].
#[derive(Debug)]
pub enum Listener {
    /// TCP.
    Tcp(TcpListener),
    /// Unix domain socket (the path is removed when the listener drops).
    Unix(UnixListener, UnixPathGuard),
    /// Linux vsock.
    #[cfg(feature = "vsock")]
    Vsock(tokio_vsock::VsockListener),
}

/// Removes a Unix socket path when dropped.
#[derive(Debug)]
pub struct UnixPathGuard(PathBuf);

impl Drop for UnixPathGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl Listener {
    /// Binds `address`. A stale Unix socket file at the path is replaced
    /// (any other kind of file is refused); the socket is made owner-only
    /// (mode 0600). `vsock:PORT` listens on any CID.
    pub async fn bind(address: &Address) -> io::Result<Self> {
        match address {
            Address::Tcp { host, port } => Ok(Listener::Tcp(
                TcpListener::bind(Address::tcp_target(host, *port)).await?,
            )),
            Address::Unix(path) => {
                use std::os::unix::fs::{FileTypeExt, PermissionsExt};
                match std::fs::symlink_metadata(path) {
                    Ok(m) if m.file_type().is_socket() => std::fs::remove_file(path)?,
                    Ok(_) => {
                        return Err(io::Error::new(
                            io::ErrorKind::AlreadyExists,
                            "unix listen path exists and is not a socket",
                        ))
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                let l = UnixListener::bind(path)?;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
                Ok(Listener::Unix(l, UnixPathGuard(path.clone())))
            }
            #[cfg(feature = "vsock")]
            Address::Vsock { cid, port } => {
                let addr = tokio_vsock::VsockAddr::new(cid.unwrap_or(VSOCK_CID_ANY), *port);
                Ok(Listener::Vsock(tokio_vsock::VsockListener::bind(addr)?))
            }
            #[cfg(not(feature = "vsock"))]
            Address::Vsock { .. } => Err(vsock_unsupported()),
        }
    }

    /// The bound address (with the actual port for `tcp:…:0`).
    pub fn local_address(&self) -> io::Result<Address> {
        match self {
            Listener::Tcp(l) => Ok(Address::tcp(l.local_addr()?)),
            Listener::Unix(_, g) => Ok(Address::Unix(g.0.clone())),
            #[cfg(feature = "vsock")]
            Listener::Vsock(l) => {
                let a = l.local_addr()?;
                Ok(Address::Vsock {
                    cid: Some(a.cid()),
                    port: a.port(),
                })
            }
        }
    }

    /// Accepts one connection.
    pub async fn accept_one(&self) -> io::Result<(Stream, PeerAddr)> {
        match self {
            Listener::Tcp(l) => {
                let (s, a) = l.accept().await?;
                s.set_nodelay(true)?;
                Ok((Stream::Tcp(s), PeerAddr::Tcp(a)))
            }
            Listener::Unix(l, _) => {
                let (s, _) = l.accept().await?;
                Ok((Stream::Unix(s), PeerAddr::Unix))
            }
            #[cfg(feature = "vsock")]
            Listener::Vsock(l) => {
                let (s, a) = l.accept().await?;
                Ok((
                    Stream::Vsock(s),
                    PeerAddr::Vsock {
                        cid: a.cid(),
                        port: a.port(),
                    },
                ))
            }
        }
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

impl axum::serve::Listener for Listener {
    type Io = Stream;
    type Addr = PeerAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.accept_one().await {
                Ok(pair) => return pair,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors and similar: back off, as axum does.
                    tracing::error!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        match self {
            Listener::Tcp(l) => Ok(PeerAddr::Tcp(l.local_addr()?)),
            Listener::Unix(..) => Ok(PeerAddr::Unix),
            #[cfg(feature = "vsock")]
            Listener::Vsock(l) => {
                let a = l.local_addr()?;
                Ok(PeerAddr::Vsock {
                    cid: a.cid(),
                    port: a.port(),
                })
            }
        }
    }
}

/// A connector for `hyper_util::client::legacy::Client` that reaches one
/// fixed transport address whatever the request URI says (the URI still
/// provides the `Host` header and path).
#[derive(Clone, Debug)]
pub struct Connector {
    target: Address,
}

impl Connector {
    /// A connector that always dials `target`.
    pub fn new(target: Address) -> Self {
        Self { target }
    }

    /// The dialled address.
    pub fn target(&self) -> &Address {
        &self.target
    }
}

impl tower::Service<http::Uri> for Connector {
    type Response = hyper_util::rt::TokioIo<Stream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: http::Uri) -> Self::Future {
        let target = self.target.clone();
        Box::pin(async move { Ok(hyper_util::rt::TokioIo::new(connect(&target).await?)) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints() {
        for (s, a) in [
            (
                "tcp:127.0.0.1:8080",
                Address::Tcp {
                    host: "127.0.0.1".into(),
                    port: 8080,
                },
            ),
            (
                "tcp:[::1]:9",
                Address::Tcp {
                    host: "::1".into(),
                    port: 9,
                },
            ),
            (
                "tcp:localhost:0",
                Address::Tcp {
                    host: "localhost".into(),
                    port: 0,
                },
            ),
            ("unix:/tmp/x.sock", Address::Unix("/tmp/x.sock".into())),
            (
                "vsock:5000",
                Address::Vsock {
                    cid: None,
                    port: 5000,
                },
            ),
            (
                "vsock:16:5000",
                Address::Vsock {
                    cid: Some(16),
                    port: 5000,
                },
            ),
        ] {
            let parsed: Address = s.parse().unwrap();
            assert_eq!(parsed, a);
            assert_eq!(parsed.to_string(), s);
        }
    }

    #[test]
    fn refuses_bad_addresses() {
        use AddressError::*;
        for (s, e) in [
            ("127.0.0.1:80", UnknownScheme),
            ("nocolon", MissingScheme),
            ("http:foo", UnknownScheme),
            ("tcp:", InvalidTcp),
            ("tcp:host", InvalidTcp),
            ("tcp:host:99999", InvalidTcp),
            ("tcp::80", InvalidTcp),
            ("tcp:a b:80", InvalidTcp),
            ("tcp:host:+1", InvalidTcp),
            ("unix:", EmptyPath),
            ("vsock:", InvalidVsock),
            ("vsock:a:1", InvalidVsock),
            ("vsock:1:2:3", InvalidVsock),
            ("vsock:-1", InvalidVsock),
            ("vsock:4294967296", InvalidVsock),
        ] {
            assert_eq!(s.parse::<Address>().unwrap_err(), e, "{s}");
        }
    }
}
