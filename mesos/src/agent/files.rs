//! `/files/browse`, `/files/read` and `/files/download`, limited to the sandboxes
//! (`<work_dir>/slaves`): a path is resolved (symlinks included) before it is checked, so
//! `..` and links cannot leave the root.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// The most `/files/read` returns at once.
pub const MAX_READ: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilesError {
    BadRequest(String),
    NotFound(String),
}

/// `path` resolved inside `root` (itself canonical). Besides real paths, the virtual paths that
/// Mesos agents attach are understood: `/frameworks/<framework>/executors/<executor>/runs/latest`
/// (and below) is that executor's sandbox under whichever `slaves/<agent id>` holds it, the
/// newest first (what the master's web UI links to).
pub fn resolve(root: &Path, path: Option<&str>) -> Result<PathBuf, FilesError> {
    let Some(path) = path.filter(|p| !p.is_empty()) else {
        return Err(FilesError::BadRequest("Expecting 'path' in query".into()));
    };
    let asked = path;
    let path = match asked
        .strip_prefix('/')
        .filter(|p| p.starts_with("frameworks/"))
    {
        Some(rel) => virtual_path(root, rel)
            .ok_or_else(|| FilesError::NotFound(format!("'{asked}' was not found")))?,
        None => PathBuf::from(asked),
    };
    let resolved = std::fs::canonicalize(path)
        .map_err(|_| FilesError::NotFound(format!("'{asked}' was not found")))?;
    if !resolved.starts_with(root) {
        return Err(FilesError::NotFound(format!("'{asked}' was not found")));
    }
    Ok(resolved)
}

/// Opens `path` (resolved inside `root` by [`resolve`]) and checks again, on the open
/// descriptor, that it is inside `root`: a directory swapped for a symlink after the check
/// cannot lead out.
pub fn open_beneath(root: &Path, path: &Path) -> Result<std::fs::File, FilesError> {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(path)
        .map_err(|e| FilesError::NotFound(format!("cannot open '{}': {e}", path.display())))?;
    let real = std::fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd()))
        .map_err(|e| FilesError::NotFound(format!("cannot check '{}': {e}", path.display())))?;
    if !real.starts_with(root) {
        return Err(FilesError::NotFound(format!(
            "'{}' was not found",
            path.display()
        )));
    }
    Ok(f)
}

/// `rel` (`frameworks/...`) under the newest agent directory of `root` that has it.
fn virtual_path(root: &Path, rel: &str) -> Option<PathBuf> {
    let mut agents: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(root)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let md = e.metadata().ok()?;
            md.is_dir()
                .then(|| (md.modified().unwrap_or(std::time::UNIX_EPOCH), e.path()))
        })
        .collect();
    agents.sort_by_key(|a| std::cmp::Reverse(a.0));
    agents
        .into_iter()
        .map(|(_, dir)| dir.join(rel))
        .find(|p| p.exists())
}

/// `ls -l`'s mode column.
pub fn mode_string(mode: u32, is_dir: bool, is_link: bool) -> String {
    let mut s = String::with_capacity(10);
    s.push(if is_dir {
        'd'
    } else if is_link {
        'l'
    } else {
        '-'
    });
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// The name for `id` in an `/etc/passwd`-style file, else the number.
fn name_of(db: &str, id: u32) -> String {
    std::fs::read_to_string(db)
        .ok()
        .and_then(|text| {
            text.lines().find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                let _pw = f.next()?;
                (f.next()?.parse::<u32>().ok()? == id).then(|| name.to_string())
            })
        })
        .unwrap_or_else(|| id.to_string())
}

fn entry(path: &Path, md: &std::fs::Metadata) -> Value {
    json!({
        "path": path.display().to_string(),
        "nlink": md.nlink(),
        "size": md.size(),
        "mtime": md.mtime() as f64,
        "mode": mode_string(md.permissions().mode(), md.is_dir(), md.file_type().is_symlink()),
        "uid": name_of("/etc/passwd", md.uid()),
        "gid": name_of("/etc/group", md.gid()),
    })
}

pub fn browse(root: &Path, path: Option<&str>) -> Result<Value, FilesError> {
    use std::os::fd::AsRawFd;
    let dir = resolve(root, path)?;
    let opened = open_beneath(root, &dir)?;
    if !opened.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(FilesError::BadRequest(format!(
            "'{}' is not a directory",
            dir.display()
        )));
    }
    // List through the checked descriptor, not the path.
    let by_fd = PathBuf::from(format!("/proc/self/fd/{}", opened.as_raw_fd()));
    let mut names: Vec<PathBuf> = std::fs::read_dir(&by_fd)
        .map_err(|e| FilesError::NotFound(format!("cannot list '{}': {e}", dir.display())))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    names.sort();
    // The listing shows paths as asked (not resolved), as Mesos does.
    let shown = PathBuf::from(path.unwrap_or(""));
    Ok(Value::Array(
        names
            .iter()
            .filter_map(|p| {
                // Not followed: a link's target may be outside the sandbox.
                let md = std::fs::symlink_metadata(p).ok()?;
                Some(entry(&shown.join(p.file_name()?), &md))
            })
            .collect(),
    ))
}

fn parse_num(name: &str, v: Option<&str>) -> Result<Option<i64>, FilesError> {
    match v {
        None | Some("") => Ok(None),
        Some(t) => t.trim().parse::<i64>().map(Some).map_err(|_| {
            FilesError::BadRequest(format!("Failed to parse {name}: '{t}' is not a number"))
        }),
    }
}

/// `{"data": ..., "offset": N}`; `offset=-1` (or none with no length) asks for the size.
pub fn read(
    root: &Path,
    path: Option<&str>,
    offset: Option<&str>,
    length: Option<&str>,
) -> Result<Value, FilesError> {
    let offset = parse_num("offset", offset)?;
    let length = parse_num("length", length)?;
    if offset.is_some_and(|o| o < -1) {
        return Err(FilesError::BadRequest("Negative offset provided".into()));
    }
    if length.is_some_and(|l| l < -1) {
        return Err(FilesError::BadRequest("Negative length provided".into()));
    }
    let file = resolve(root, path)?;
    if file.is_dir() {
        return Err(FilesError::BadRequest("Cannot read a directory".into()));
    }
    let mut f = open_beneath(root, &file)?;
    let size = f.metadata().map(|m| m.len()).unwrap_or(0);
    let Some(offset) = offset.filter(|o| *o >= 0) else {
        return Ok(json!({"data": "", "offset": size}));
    };
    let offset = offset as u64;
    if offset >= size {
        return Ok(json!({"data": "", "offset": offset}));
    }
    let want = match length {
        Some(l) if l >= 0 => (l as u64).min(MAX_READ),
        _ => MAX_READ,
    };
    let mut buf = Vec::new();
    f.seek(SeekFrom::Start(offset))
        .and_then(|_| f.take(want).read_to_end(&mut buf))
        .map_err(|e| FilesError::NotFound(format!("cannot read '{}': {e}", file.display())))?;
    Ok(json!({"data": String::from_utf8_lossy(&buf), "offset": offset}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_sandbox_paths_resolve_inside_the_root() {
        let base = std::env::temp_dir().join(format!("agent-files-virtual-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let runs = base.join("slaves/A-S0/frameworks/F/executors/T/runs");
        std::fs::create_dir_all(runs.join("r1")).unwrap();
        std::fs::write(runs.join("r1/stdout"), "out").unwrap();
        std::os::unix::fs::symlink("r1", runs.join("latest")).unwrap();
        let root = std::fs::canonicalize(base.join("slaves")).unwrap();
        let got = resolve(&root, Some("/frameworks/F/executors/T/runs/latest/stdout")).unwrap();
        assert_eq!(std::fs::read_to_string(got).unwrap(), "out");
        assert!(matches!(
            resolve(
                &root,
                Some("/frameworks/F/executors/nope/runs/latest/stdout")
            ),
            Err(FilesError::NotFound(_))
        ));
        assert!(matches!(
            resolve(&root, Some("/frameworks/../../../../etc/passwd")),
            Err(FilesError::NotFound(_))
        ));
        std::fs::remove_dir_all(&base).unwrap();
    }

    fn root() -> (PathBuf, PathBuf) {
        let base = std::env::temp_dir().join(format!("agent-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("slaves");
        std::fs::create_dir_all(root.join("sb")).unwrap();
        std::fs::write(root.join("sb/stdout"), "hello\nworld\n").unwrap();
        std::fs::write(base.join("secret"), "no").unwrap();
        (base, std::fs::canonicalize(&root).unwrap())
    }

    #[test]
    fn reads_browses_and_stays_inside() {
        let (base, root) = root();
        let sb = root.join("sb");
        let f = sb.join("stdout");
        let fs = f.to_str();
        assert_eq!(
            read(&root, fs, Some("0"), None).unwrap(),
            json!({"data": "hello\nworld\n", "offset": 0})
        );
        assert_eq!(
            read(&root, fs, Some("6"), Some("3")).unwrap(),
            json!({"data": "wor", "offset": 6})
        );
        assert_eq!(
            read(&root, fs, Some("-1"), None).unwrap(),
            json!({"data": "", "offset": 12})
        );
        assert_eq!(
            read(&root, fs, Some("100"), None).unwrap(),
            json!({"data": "", "offset": 100})
        );
        assert!(matches!(
            read(&root, fs, Some("x"), None),
            Err(FilesError::BadRequest(_))
        ));
        assert!(matches!(
            read(&root, None, None, None),
            Err(FilesError::BadRequest(_))
        ));
        assert!(matches!(
            read(&root, sb.to_str(), Some("0"), None),
            Err(FilesError::BadRequest(_))
        ));
        let escape = format!("{}/../../secret", sb.display());
        assert!(matches!(
            read(&root, Some(&escape), Some("0"), None),
            Err(FilesError::NotFound(_))
        ));
        assert!(matches!(
            read(&root, Some("/etc/passwd"), Some("0"), None),
            Err(FilesError::NotFound(_))
        ));
        std::os::unix::fs::symlink(base.join("secret"), sb.join("link")).unwrap();
        assert!(matches!(
            read(&root, sb.join("link").to_str(), Some("0"), None),
            Err(FilesError::NotFound(_))
        ));

        let list = browse(&root, sb.to_str()).unwrap();
        let stdout = list
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["path"] == json!(f.display().to_string()))
            .unwrap();
        assert_eq!(stdout["size"], 12);
        assert_eq!(stdout["nlink"], 1);
        assert!(stdout["mode"].as_str().unwrap().starts_with("-rw"));
        assert!(matches!(
            browse(&root, f.to_str()),
            Err(FilesError::BadRequest(_))
        ));
        std::fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn modes_look_like_ls() {
        assert_eq!(mode_string(0o755, true, false), "drwxr-xr-x");
        assert_eq!(mode_string(0o640, false, false), "-rw-r-----");
    }
}
