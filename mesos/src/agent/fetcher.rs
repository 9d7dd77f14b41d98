//! The fetcher: before a task's command starts, its `CommandInfo.uris` are put into the
//! sandbox, as Mesos' fetcher does (Marathon's `uris`/`fetch`). Runs in the supervisor, so a
//! slow download never blocks the agent.
//!
//! Sources: `http://` (a plain HTTP/1.1 GET; HTTPS is refused with a clear message: this
//! workplace has no TLS client), `file://` and absolute paths (copied). An archive
//! (`.tar`, `.tar.gz`/`.tgz`, `.tar.bz2`/`.tbz2`, `.tar.xz`/`.txz`, `.zip`) with `extract` is
//! unpacked into the sandbox with `tar`/`unzip`; `executable` makes the file executable.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How long one download may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(300);

/// One `CommandInfo.URI`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uri {
    pub value: String,
    pub extract: bool,
    pub executable: bool,
    /// The file name in the sandbox (default: the URI's last path segment).
    pub output_file: Option<String>,
}

impl Uri {
    /// Reads `command.uris[]` of a TaskInfo. Mesos' defaults: `extract` true, `executable`
    /// false.
    pub fn list(command: &Value) -> Vec<Uri> {
        command
            .get("uris")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|u| {
                Some(Uri {
                    value: u.get("value")?.as_str()?.to_string(),
                    extract: u.get("extract").and_then(Value::as_bool).unwrap_or(true),
                    executable: u
                        .get("executable")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    output_file: u
                        .get("output_file")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                })
            })
            .collect()
    }

    fn file_name(&self) -> String {
        if let Some(n) = self.output_file.as_deref().filter(|n| !n.is_empty()) {
            return n.to_string();
        }
        let path = self.value.split(['?', '#']).next().unwrap_or("");
        path.rsplit('/')
            .find(|s| !s.is_empty())
            .unwrap_or("fetched")
            .to_string()
    }
}

fn archive_kind(name: &str) -> Option<&'static str> {
    let n = name.to_ascii_lowercase();
    if n.ends_with(".zip") {
        Some("zip")
    } else if [
        ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz",
    ]
    .iter()
    .any(|s| n.ends_with(s))
    {
        Some("tar")
    } else {
        None
    }
}

/// Fetches every URI into `sandbox`; the error names the URI and the reason.
pub fn fetch_all(uris: &[Uri], sandbox: &Path) -> Result<(), String> {
    for u in uris {
        fetch(u, sandbox).map_err(|e| format!("Failed to fetch '{}': {e}", u.value))?;
    }
    Ok(())
}

fn fetch(u: &Uri, sandbox: &Path) -> Result<(), String> {
    let name = u.file_name();
    if name.contains('/') || name == ".." || name == "." {
        return Err(format!("bad output file name '{name}'"));
    }
    let dest = sandbox.join(&name);
    let v = u.value.as_str();
    if let Some(rest) = v.strip_prefix("http://") {
        http_get(rest, &dest)?;
    } else if v.starts_with("https://") {
        return Err("HTTPS is not supported by this agent's fetcher (no TLS client); use http:// or a local file".into());
    } else {
        let src = PathBuf::from(v.strip_prefix("file://").unwrap_or(v));
        if !src.is_absolute() {
            return Err("a local URI must be an absolute path or file://".into());
        }
        std::fs::copy(&src, &dest).map_err(|e| format!("cannot copy {}: {e}", src.display()))?;
    }
    if u.executable {
        std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("cannot make it executable: {e}"))?;
    }
    if u.extract {
        match archive_kind(&name) {
            Some("zip") => run(std::process::Command::new("unzip")
                .arg("-o")
                .arg("-q")
                .arg(&dest)
                .arg("-d")
                .arg(sandbox))?,
            Some(_) => run(std::process::Command::new("tar")
                .arg("-xf")
                .arg(&dest)
                .arg("-C")
                .arg(sandbox))?,
            None => {}
        }
    }
    Ok(())
}

fn run(cmd: &mut std::process::Command) -> Result<(), String> {
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "extracting failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// `host[:port]/path` over plain HTTP/1.1 into `dest`; 2xx only, redirects refused.
fn http_get(rest: &str, dest: &Path) -> Result<(), String> {
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let sock = std::net::ToSocketAddrs::to_socket_addrs(&addr)
        .map_err(|e| format!("cannot resolve {authority}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {authority}"))?;
    let mut s = std::net::TcpStream::connect_timeout(&sock, Duration::from_secs(30))
        .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
    s.set_read_timeout(Some(FETCH_TIMEOUT)).ok();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nUser-Agent: mesos-fetcher\r\n\r\n"
    );
    s.write_all(request.as_bytes())
        .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut body = Vec::new();
    s.read_to_end(&mut body)
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    let head_end = body
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the answer has no complete header")?;
    let head = String::from_utf8_lossy(&body[..head_end]).to_string();
    let status = head.lines().next().unwrap_or("");
    let code: u16 = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    if !(200..300).contains(&code) {
        return Err(format!("the server answered '{status}'"));
    }
    let mut data = body[head_end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        data = dechunk(&data).ok_or("bad chunked encoding")?;
    }
    std::fs::write(dest, data).map_err(|e| format!("cannot write {}: {e}", dest.display()))
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let nl = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..nl]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[nl + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("fetcher-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn uris_from_a_command_with_mesos_defaults() {
        let u = Uri::list(
            &json!({"uris": [{"value": "http://h/a/b.tgz?x=1"}, {"value": "/x", "extract": false, "executable": true, "output_file": "y"}]}),
        );
        assert!(u[0].extract && !u[0].executable);
        assert_eq!(u[0].file_name(), "b.tgz");
        assert_eq!(u[1].file_name(), "y");
    }

    #[test]
    fn local_files_are_copied_made_executable_and_extracted() {
        let src = tmp("src");
        let sb = tmp("sb");
        std::fs::write(src.join("run.sh"), "#!/bin/sh\necho hi\n").unwrap();
        std::fs::create_dir_all(src.join("pkg")).unwrap();
        std::fs::write(src.join("pkg/data.txt"), "inside").unwrap();
        let tar = src.join("pkg.tar.gz");
        let ok = std::process::Command::new("tar")
            .arg("-czf")
            .arg(&tar)
            .arg("-C")
            .arg(&src)
            .arg("pkg")
            .status()
            .unwrap()
            .success();
        assert!(ok);
        let uris = vec![
            Uri {
                value: format!("file://{}", src.join("run.sh").display()),
                extract: true,
                executable: true,
                output_file: None,
            },
            Uri {
                value: tar.display().to_string(),
                extract: true,
                executable: false,
                output_file: None,
            },
        ];
        fetch_all(&uris, &sb).unwrap();
        let mode = std::fs::metadata(sb.join("run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111);
        assert_eq!(
            std::fs::read_to_string(sb.join("pkg/data.txt")).unwrap(),
            "inside"
        );
        let e = fetch_all(
            &[Uri {
                value: "/no/such/file".into(),
                extract: false,
                executable: false,
                output_file: None,
            }],
            &sb,
        )
        .unwrap_err();
        assert!(
            e.starts_with("Failed to fetch '/no/such/file': cannot copy"),
            "{e}"
        );
        let e = fetch_all(
            &[Uri {
                value: "https://h/x".into(),
                extract: false,
                executable: false,
                output_file: None,
            }],
            &sb,
        )
        .unwrap_err();
        assert!(e.contains("HTTPS is not supported"), "{e}");
        let _ = std::fs::remove_dir_all(&src);
        let _ = std::fs::remove_dir_all(&sb);
    }

    #[test]
    fn http_downloads_plain_and_chunked() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            for (i, s) in listener.incoming().take(3).enumerate() {
                let mut s = s.unwrap();
                // Read the whole request head before answering.
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
                    head.push(byte[0]);
                }
                let answer: &[u8] = match i {
                    0 => b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
                    1 => b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
                    _ => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
                };
                s.write_all(answer).unwrap();
            }
        });
        let sb = tmp("http");
        let u = |p: &str| Uri {
            value: format!("http://127.0.0.1:{port}/{p}"),
            extract: false,
            executable: false,
            output_file: None,
        };
        fetch_all(&[u("a.txt")], &sb).unwrap();
        assert_eq!(std::fs::read_to_string(sb.join("a.txt")).unwrap(), "hello");
        fetch_all(&[u("b.txt")], &sb).unwrap();
        assert_eq!(std::fs::read_to_string(sb.join("b.txt")).unwrap(), "abcde");
        let e = fetch_all(&[u("c.txt")], &sb).unwrap_err();
        assert!(e.contains("404"), "{e}");
        server.join().unwrap();
        let _ = std::fs::remove_dir_all(&sb);
    }
}
