//! The dashboard's HTTP plumbing: a parsed request, a reply, form and query decoding, basic auth and the CSRF token.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;

/// Bodies larger than this are refused (a form of ids is a few KiB).
const MAX_BODY: u64 = 1 << 20;

/// A request, read whole: method, path below the prefix, query and form.
#[derive(Debug)]
pub(crate) struct Request {
    /// True for POST (every other method is treated as a read).
    pub post: bool,
    /// The path below the dashboard's prefix, starting with `/`.
    pub path: String,
    /// Query string pairs, decoded, in order.
    pub query: Vec<(String, String)>,
    /// Form body pairs (`application/x-www-form-urlencoded`), decoded.
    pub form: Vec<(String, String)>,
    /// The `X-CSRF-Token` header, for API calls from scripts.
    pub csrf_header: Option<String>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
    /// The `Host` header.
    pub host: Option<String>,
}

impl Request {
    /// Reads a request's line and headers (not its body: see
    /// [`Request::read_body`]); `Err` is a reply for a request that cannot be served.
    pub(crate) fn read_head(raw: &tiny_http::Request, prefix: &str) -> Result<Request, Reply> {
        let post = *raw.method() == tiny_http::Method::Post;
        let url = raw.url().to_string();
        let (path, query) = url.split_once('?').unwrap_or((&url, ""));
        let below = if prefix.is_empty() {
            Some(path)
        } else {
            path.strip_prefix(prefix)
                .filter(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        let Some(below) = below else {
            return Err(Reply::error(404, "not found"));
        };
        let header = |name: &'static str| {
            raw.headers()
                .iter()
                .find(|h| h.field.equiv(name))
                .map(|h| h.value.as_str().to_string())
        };
        // Empty segments dropped, so that links built from the path stay on this host.
        let segments: Vec<&str> = below.split('/').filter(|s| !s.is_empty()).collect();
        Ok(Request {
            post,
            path: format!("/{}", segments.join("/")),
            query: decode_pairs(query),
            form: Vec::new(),
            csrf_header: header("X-CSRF-Token"),
            authorization: header("Authorization"),
            host: header("Host"),
        })
    }

    /// Reads a POST's form body, refusing one over 1 MiB before reading it.
    pub(crate) fn read_body(&mut self, raw: &mut tiny_http::Request) -> Result<(), Reply> {
        if !self.post {
            return Ok(());
        }
        if raw.body_length().is_some_and(|n| n as u64 > MAX_BODY) {
            return Err(Reply::error(413, "the request body is over 1 MiB"));
        }
        let mut body = String::new();
        if raw
            .as_reader()
            .take(MAX_BODY + 1)
            .read_to_string(&mut body)
            .is_err()
        {
            return Err(Reply::error(400, "the request body is not UTF-8 text"));
        }
        if body.len() as u64 > MAX_BODY {
            return Err(Reply::error(413, "the request body is over 1 MiB"));
        }
        self.form = decode_pairs(&body);
        Ok(())
    }

    /// True for the JSON API's paths, whose errors are JSON too.
    pub(crate) fn is_api(&self) -> bool {
        self.path == "/api" || self.path.starts_with("/api/")
    }

    /// The first query value named `name`, if not empty.
    pub(crate) fn query(&self, name: &str) -> Option<&str> {
        first(&self.query, name)
    }

    /// The first form value named `name`, if not empty.
    pub(crate) fn form(&self, name: &str) -> Option<&str> {
        first(&self.form, name)
    }

    /// Every non-empty form value named `name`.
    pub(crate) fn form_all(&self, name: &str) -> Vec<&str> {
        self.form
            .iter()
            .filter(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The path's segments, percent-decoded (a schedule id may hold spaces).
    pub(crate) fn segments(&self) -> Vec<String> {
        self.path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|segment| percent_decode(segment, false))
            .collect()
    }
}

fn first<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, v)| k == name && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

/// `a=1&b=x%20y` into pairs, `+` as a space; a malformed escape is kept as text.
pub(crate) fn decode_pairs(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}

/// `%XX` escapes decoded, and `+` as a space where `plus_is_space` (in a
/// query or form, not in a path).
fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let hex = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 3) {
            Some([b'%', hi, lo]) => hex(*hi).zip(hex(*lo)).map(|(h, l)| h << 4 | l),
            _ => None,
        };
        match (bytes[i], escaped) {
            (_, Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', None) if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            (b, None) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `s` escaped for a query string value.
pub(crate) fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// What a handler answers.
#[derive(Debug)]
pub(crate) struct Reply {
    /// The HTTP status.
    pub status: u16,
    /// The Content-Type.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    /// An HTML page.
    pub(crate) fn html(status: u16, markup: maud::Markup) -> Reply {
        Reply {
            status,
            content_type: "text/html; charset=utf-8",
            body: markup.into_string().into_bytes(),
            headers: Vec::new(),
        }
    }

    /// A JSON document.
    pub(crate) fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: serde_json::to_vec_pretty(value).unwrap_or_default(),
            headers: Vec::new(),
        }
    }

    /// A plain-text error (pages render their own; this is for the API and plumbing).
    pub(crate) fn error(status: u16, message: &str) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: format!("{status}: {message}\n").into_bytes(),
            headers: Vec::new(),
        }
    }

    /// An error as the request's kind of client reads it: JSON for the API, text otherwise.
    pub(crate) fn refuse(req: &Request, status: u16, message: &str) -> Reply {
        if req.is_api() {
            Reply::json(status, &serde_json::json!({ "error": message }))
        } else {
            Reply::error(status, message)
        }
    }

    /// A 303 to `location` (after a form's POST, so a reload repeats nothing).
    pub(crate) fn see_other(location: String) -> Reply {
        Reply {
            status: 303,
            content_type: "text/plain; charset=utf-8",
            body: Vec::new(),
            headers: vec![("Location", location)],
        }
    }

    /// An embedded asset.
    pub(crate) fn asset(content_type: &'static str, body: &'static str) -> Reply {
        Reply {
            status: 200,
            content_type,
            body: body.as_bytes().to_vec(),
            headers: vec![("Cache-Control", "max-age=300".into())],
        }
    }

    /// With one more header.
    pub(crate) fn with_header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    /// The tiny_http response, with the headers every reply carries.
    pub(crate) fn into_response(self) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
        let mut response = tiny_http::Response::from_data(self.body).with_status_code(self.status);
        let fixed = [
            ("Content-Type", self.content_type.to_string()),
            // No inline script or style can run, whatever a job carries.
            (
                "Content-Security-Policy",
                "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'"
                    .to_string(),
            ),
            ("X-Content-Type-Options", "nosniff".to_string()),
            ("X-Frame-Options", "DENY".to_string()),
            ("Referrer-Policy", "same-origin".to_string()),
        ];
        for (name, value) in fixed.into_iter().chain(self.headers) {
            if let Ok(header) = tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                response.add_header(header);
            }
        }
        response
    }
}

/// The `Authorization` header value that `user:password` sends.
pub(crate) fn basic_auth_header(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

/// Compares in time independent of where the strings differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A fresh secret: 32 bytes from the OS where it has /dev/urandom,
/// otherwise from std's randomly seeded hasher keys.
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    let from_os = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok();
    if !from_os {
        for chunk in bytes.chunks_mut(8) {
            let mut hasher = RandomState::new().build_hasher();
            hasher.write_u128(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or_default(),
            );
            chunk.copy_from_slice(&hasher.finish().to_le_bytes()[..chunk.len()]);
        }
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_escapes_and_plus_signs_and_keep_malformed_escapes() {
        assert_eq!(
            decode_pairs("a=1&b=x+y%21&c=%zz&d"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y!".into()),
                ("c".into(), "%zz".into()),
                ("d".into(), "".into()),
            ]
        );
        assert_eq!(decode_pairs("e=%4"), vec![("e".into(), "%4".into())]);
        assert_eq!(percent_decode(&percent_encode("a b/é&"), true), "a b/é&");
        assert_eq!(
            percent_decode("a+b%20c", false),
            "a+b c",
            "a path's + is itself"
        );
    }

    #[test]
    fn basic_auth_is_base64_of_user_colon_password() {
        assert_eq!(
            basic_auth_header("Aladdin", "open sesame"),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(base64(b"ab"), "YWI=");
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("a", "ab"));
        assert_eq!(random_token().len(), 64);
    }
}
