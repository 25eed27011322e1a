//! A minimal HTTP/1.1 client over a real socket (no client library needed for tests), with multipart bodies.
//! Also used by `bins/stream-server`'s tests (included there by path).
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `GET path` → (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, body) = request(addr, "GET", path, "", &[]).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// `DELETE path` → status.
pub async fn http_delete(addr: SocketAddr, path: &str) -> u16 {
    request(addr, "DELETE", path, "", &[]).await.0
}

/// `POST path` with a multipart body → (status, body).
pub async fn post_multipart(addr: SocketAddr, path: &str, form: &Form) -> (u16, String) {
    let (status, body) = request(addr, "POST", path, &form.content_type(), &form.body()).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// One request on its own connection; the body is sent even if the server answers early (and a server that
/// stops reading does not fail the test: its response is what matters).
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if !content_type.is_empty() {
        head.push_str(&format!("Content-Type: {content_type}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(body).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete response head");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap();
    let body = response[split + 4..].to_vec();
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    (status, if chunked { dechunk(&body) } else { body })
}

/// Undoes `Transfer-Encoding: chunked`.
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&rest[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok());
        let Some(size) = size.filter(|&n| n > 0) else { break };
        let start = line_end + 2;
        out.extend_from_slice(&rest[start..start + size]);
        rest = &rest[(start + size + 2).min(rest.len())..];
    }
    out
}

/// A `multipart/form-data` body.
#[derive(Default)]
pub struct Form {
    parts: Vec<(String, Option<String>, Vec<u8>)>,
}

impl Form {
    const BOUNDARY: &str = "----forgesyte-test-boundary-7d1f";

    pub fn new() -> Self {
        Self::default()
    }

    pub fn text(mut self, name: &str, value: &str) -> Self {
        self.parts.push((name.into(), None, value.as_bytes().to_vec()));
        self
    }

    pub fn file(mut self, name: &str, file_name: &str, bytes: &[u8]) -> Self {
        self.parts.push((name.into(), Some(file_name.into()), bytes.to_vec()));
        self
    }

    pub fn content_type(&self) -> String {
        format!("multipart/form-data; boundary={}", Self::BOUNDARY)
    }

    pub fn body(&self) -> Vec<u8> {
        let mut body = Vec::new();
        for (name, file_name, bytes) in &self.parts {
            body.extend_from_slice(format!("--{}\r\n", Self::BOUNDARY).as_bytes());
            match file_name {
                Some(file) => body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\n\
                         Content-Type: video/mp4\r\n\r\n"
                    )
                    .as_bytes(),
                ),
                None => body.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            body.extend_from_slice(bytes);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{}--\r\n", Self::BOUNDARY).as_bytes());
        body
    }
}
