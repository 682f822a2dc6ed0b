//! Where the client's request ends, for `client write request`: the peer looks at the bytes
//! that arrived (with `MSG_PEEK`, which leaves them queued) and says whether they hold a whole
//! request yet.
//!
//! An HTTP/1.x request ends after its headers (the empty line) and its body: `Content-Length`
//! bytes, or the chunks of `Transfer-Encoding: chunked` up to the last one and its trailer.
//! Anything else has no end the peer could know from its bytes: the peer takes the request to
//! be what arrived before the client paused ([`QUIET`]) or ended its side.

use std::time::Duration;

/// A request that is not HTTP ends when no byte arrived for this long: far longer than the
/// time between the writes of one request (microseconds on loopback, the same gaps one delay
/// later on the link), far shorter than the peer's timeout.
pub const QUIET: Duration = Duration::from_millis(100);

/// What the bytes so far say about where the request ends.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum RequestEnd {
    /// A whole HTTP request of this many bytes.
    Http(usize),
    /// The start of an HTTP request; what has not arrived yet, in words.
    HttpPartial(String),
    /// Not HTTP: the request ends at the client's pause.
    NotHttp,
}

/// The longest method name taken as one (`OPTIONS`, `PROPFIND`, with room).
const MAX_METHOD: usize = 16;

/// Where the request that starts `bytes` ends, as far as `bytes` tell.
pub(super) fn end(bytes: &[u8]) -> RequestEnd {
    let method = bytes.iter().take_while(|b| b.is_ascii_uppercase()).count();
    match bytes.get(method) {
        // An uppercase word and a space: a request line (`GET /path HTTP/1.1`).
        Some(b' ') if (1..=MAX_METHOD).contains(&method) => http_end(bytes),
        // Only uppercase letters so far: wait for what follows them.
        None if method <= MAX_METHOD => {
            RequestEnd::HttpPartial("its request line has not ended".into())
        }
        _ => RequestEnd::NotHttp,
    }
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|at| from + at)
}

fn http_end(bytes: &[u8]) -> RequestEnd {
    let Some(blank) = find(bytes, 0, b"\r\n\r\n") else {
        return RequestEnd::HttpPartial("its headers have not ended (no empty line yet)".into());
    };
    let head = blank + 4;
    let headers = String::from_utf8_lossy(&bytes[..blank]).to_ascii_lowercase();
    let value = |name: &str| {
        headers.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            (n.trim() == name).then(|| v.trim().to_string())
        })
    };
    if value("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        return chunked_end(bytes, head);
    }
    let Some(length) = value("content-length") else {
        return RequestEnd::Http(head);
    };
    let Ok(length) = length.parse::<usize>() else {
        // A length the peer cannot read: the client's pause ends it.
        return RequestEnd::NotHttp;
    };
    let got = bytes.len() - head;
    match head.checked_add(length) {
        Some(total) if got >= length => RequestEnd::Http(total),
        _ => RequestEnd::HttpPartial(format!("{got} of its {length}-byte body arrived")),
    }
}

/// The end of a chunked body that starts at `at`.
fn chunked_end(bytes: &[u8], mut at: usize) -> RequestEnd {
    let partial = || RequestEnd::HttpPartial("its chunked body has not ended".into());
    loop {
        let Some(eol) = find(bytes, at, b"\r\n") else {
            return partial();
        };
        let line = String::from_utf8_lossy(&bytes[at..eol]);
        let size = line.split(';').next().unwrap_or("").trim();
        let Ok(size) = usize::from_str_radix(size, 16) else {
            return RequestEnd::NotHttp;
        };
        at = eol + 2;
        if size == 0 {
            // The trailer: header lines, then an empty line.
            if bytes.get(at..at + 2) == Some(b"\r\n") {
                return RequestEnd::Http(at + 2);
            }
            return match find(bytes, at, b"\r\n\r\n") {
                Some(blank) => RequestEnd::Http(blank + 4),
                None => partial(),
            };
        }
        match at.checked_add(size).and_then(|a| a.checked_add(2)) {
            Some(next) if next <= bytes.len() => at = next,
            _ => return partial(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_http_request_ends_after_its_headers_and_body() {
        let get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        assert_eq!(end(get), RequestEnd::Http(get.len()));
        // A pipelined second request is not part of the first.
        assert_eq!(
            end(&[&get[..], b"GET /2"].concat()),
            RequestEnd::Http(get.len())
        );
        let post = b"POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhel";
        assert!(
            matches!(end(post), RequestEnd::HttpPartial(w) if w.contains("3 of its 5-byte body"))
        );
        assert_eq!(
            end(b"POST /p HTTP/1.1\r\ncontent-length:5\r\n\r\nhello"),
            RequestEnd::Http(43)
        );
        assert!(matches!(
            end(b"GET / HTTP/1.1\r\nHost"),
            RequestEnd::HttpPartial(_)
        ));
        assert!(matches!(end(b"GE"), RequestEnd::HttpPartial(_)));
    }

    #[test]
    fn a_chunked_body_ends_with_its_last_chunk_and_trailer() {
        let head = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        let body = b"3\r\nabc\r\n0\r\n\r\n";
        let whole = [&head[..], body].concat();
        assert_eq!(end(&whole), RequestEnd::Http(whole.len()));
        assert!(matches!(
            end(&whole[..whole.len() - 1]),
            RequestEnd::HttpPartial(_)
        ));
        let trailer = [&head[..], b"0\r\nX-T: 1\r\n\r\n"].concat();
        assert_eq!(end(&trailer), RequestEnd::Http(trailer.len()));
    }

    #[test]
    fn other_bytes_are_not_http() {
        assert_eq!(end(b"hello"), RequestEnd::NotHttp);
        assert_eq!(end(b"\x16\x03\x01"), RequestEnd::NotHttp);
        assert_eq!(end(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ"), RequestEnd::NotHttp);
    }
}
