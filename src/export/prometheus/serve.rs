//! The `--metrics ADDR` endpoint: an HTTP server on a thread of its own
//! (`kwire-metrics`) that answers `GET /metrics` with the exposition of the
//! shared metrics, 404 for any other path and 405 for any other method.
//!
//! A scrape locks the metrics only while it writes the exposition into a
//! buffer (a few thousand lines at most: the series are bounded), never
//! while it sends it; the thread that feeds them is the sink's, behind the
//! packet queue, so a slow scraper never holds the capture up. The thread
//! serves until the process ends; requests are answered one at a time.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::analysis::metrics::Shared;

/// Path the metrics are served at.
pub const PATH: &str = "/metrics";

/// A running endpoint.
pub struct Endpoint {
    /// The address bound (its port, when `ADDR` asked for port 0).
    pub addr: SocketAddr,
}

/// Bind `addr` (`host:port`) now, so that a wrong address is an error
/// before the capture starts, and serve `shared` from a thread.
pub fn start(addr: &str, shared: Arc<Shared>) -> io::Result<Endpoint> {
    let server = tiny_http::Server::http(addr)
        .map_err(|e| io::Error::other(format!("cannot serve metrics on {addr}: {e}")))?;
    let bound = match server.server_addr() {
        tiny_http::ListenAddr::IP(a) => a,
        #[allow(unreachable_patterns)]
        _ => return Err(io::Error::other("the metrics endpoint is not on IP")),
    };
    std::thread::Builder::new()
        .name("kwire-metrics".into())
        .spawn(move || {
            for req in server.incoming_requests() {
                let resp = answer(req.method(), req.url(), &shared);
                // A scraper that went away is its own business.
                let _ = req.respond(resp);
            }
        })?;
    Ok(Endpoint { addr: bound })
}

/// The response to `method url`.
fn answer(
    method: &tiny_http::Method,
    url: &str,
    shared: &Shared,
) -> tiny_http::Response<io::Cursor<Vec<u8>>> {
    use tiny_http::{Header, Method, Response};
    let path = url.split('?').next().unwrap_or("");
    let text = |code: u16, body: &str| {
        let h = Header::from_bytes("Content-Type", "text/plain; charset=utf-8")
            .expect("a valid header");
        Response::from_string(body)
            .with_status_code(code)
            .with_header(h)
    };
    if path != PATH {
        return text(404, "not found: kwire serves its metrics at /metrics\n");
    }
    if !matches!(method, Method::Get | Method::Head) {
        return text(405, "method not allowed: GET /metrics\n");
    }
    shared.want_findings();
    let body = super::to_text(&shared.lock());
    let h = Header::from_bytes("Content-Type", super::CONTENT_TYPE).expect("a valid header");
    // Whole, with its Content-Length: no chunked encoding for the simple
    // scrapers (curl in a cron job, a textfile sidecar) either.
    Response::from_data(body.into_bytes())
        .with_header(h)
        .with_chunked_threshold(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn get(addr: SocketAddr, request: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    #[test]
    fn serves_metrics_and_nothing_else() {
        let shared = Shared::new();
        let ep = start("127.0.0.1:0", shared.clone()).unwrap();
        assert_ne!(ep.addr.port(), 0);
        let ok = get(
            ep.addr,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.contains("text/plain; version=0.0.4"));
        assert!(ok.contains("\r\n\r\n# HELP kwire_requests_total "));
        assert!(ok.contains("Content-Length: "), "{ok}");
        let nf = get(
            ep.addr,
            "GET /other HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(nf.starts_with("HTTP/1.1 404"), "{nf}");
        let post = get(
            ep.addr,
            "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        );
        assert!(post.starts_with("HTTP/1.1 405"), "{post}");
        // Garbage is tiny_http's to refuse; the endpoint stays up.
        let _ = get(ep.addr, "\u{0}\u{1}garbage\r\n\r\n");
        let again = get(
            ep.addr,
            "GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        assert!(again.starts_with("HTTP/1.1 200"), "{again}");
    }

    #[test]
    fn a_bad_address_is_an_error() {
        let e = start("not an address", Shared::new()).err().unwrap();
        assert!(
            e.to_string()
                .starts_with("cannot serve metrics on not an address")
        );
    }
}
