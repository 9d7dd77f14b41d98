//! Tab completion in interactive mode, as zkCli's `JLineZNodeCompleter` does it: the first
//! word completes to command names; a word starting with `/` completes to the children of
//! its parent znode, listed on the live session (nothing when there is none, or when the
//! listing fails or takes too long).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustyline::completion::Completer;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};
use zk_client::Client;

/// How long a completion may wait for the server.
const LIST_TIMEOUT: Duration = Duration::from_millis(1000);

/// The session completion lists znodes on: set by `connect`, cleared by `close`.
pub type SharedClient = Arc<Mutex<Option<Client>>>;

pub struct ZkHelper {
    pub client: SharedClient,
    /// The shell's runtime, driven by the main thread while the reader thread waits for a
    /// line (completion runs on the reader thread).
    pub rt: tokio::runtime::Handle,
    /// Command names, sorted.
    pub commands: Vec<&'static str>,
}

/// The start of the word the cursor is in (or just after) and the word up to the cursor.
fn current_word(line: &str, pos: usize) -> (usize, &str) {
    let before = &line[..pos];
    let start = before.rfind(char::is_whitespace).map_or(0, |i| {
        i + before[i..].chars().next().map_or(1, char::len_utf8)
    });
    (start, &before[start..])
}

/// The parent to list and the name prefix for a path word: `/a/b` → (`/a`, `b`), `/b` →
/// (`/`, `b`).
fn split_path(word: &str) -> (&str, &str) {
    let cut = word.rfind('/').unwrap_or(0);
    let dir = if cut == 0 { "/" } else { &word[..cut] };
    (dir, &word[cut + 1..])
}

impl ZkHelper {
    /// Where the replacement starts and the candidates, for the cursor at `pos` in `line`.
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let (start, word) = current_word(line, pos);
        if line[..start].trim().is_empty() {
            let names = self
                .commands
                .iter()
                .filter(|c| c.starts_with(word))
                .map(|c| c.to_string())
                .collect();
            return (start, names);
        }
        if !word.starts_with('/') {
            return (pos, Vec::new());
        }
        let (dir, prefix) = split_path(word);
        let Some(client) = self.client.lock().ok().and_then(|c| c.clone()) else {
            return (pos, Vec::new());
        };
        // The timer is made inside `block_on`, where the runtime's context is entered.
        let listed = self
            .rt
            .block_on(async { tokio::time::timeout(LIST_TIMEOUT, client.get_children(dir)).await });
        let Ok(Ok(children)) = listed else {
            return (pos, Vec::new());
        };
        let mut names: Vec<String> = children
            .into_iter()
            .filter(|c| c.starts_with(prefix))
            .collect();
        names.sort();
        (start + word.len() - prefix.len(), names)
    }
}

impl Completer for ZkHelper {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        Ok(self.candidates(line, pos))
    }
}

impl Hinter for ZkHelper {
    type Hint = String;
}
impl Highlighter for ZkHelper {}
impl Validator for ZkHelper {}
impl Helper for ZkHelper {}

#[cfg(test)]
mod tests {
    use super::*;
    use zk_client::{Acl, CreateMode};

    fn helper(rt: &tokio::runtime::Runtime, client: Option<Client>) -> ZkHelper {
        ZkHelper {
            client: Arc::new(Mutex::new(client)),
            rt: rt.handle().clone(),
            commands: crate::command_names(),
        }
    }

    #[test]
    fn words_and_paths() {
        assert_eq!(current_word("ls /a", 5), (3, "/a"));
        assert_eq!(current_word("ls ", 3), (3, ""));
        assert_eq!(current_word("get", 3), (0, "get"));
        assert_eq!(current_word("get -s /x/y", 8), (7, "/"));
        assert_eq!(split_path("/a/b"), ("/a", "b"));
        assert_eq!(split_path("/b"), ("/", "b"));
        assert_eq!(split_path("/"), ("/", ""));
        assert_eq!(split_path("/a/"), ("/a", ""));
    }

    #[test]
    fn commands_complete_in_the_first_word_only() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let h = helper(&rt, None);
        assert_eq!(
            h.candidates("ge", 2),
            (
                0,
                vec![
                    "get".to_string(),
                    "getAcl".into(),
                    "getAllChildrenNumber".into(),
                    "getEphemerals".into()
                ]
            )
        );
        assert_eq!(h.candidates("  remo", 6), (2, vec!["removewatches".into()]));
        assert_eq!(h.candidates("reconf", 6), (0, vec!["reconfig".into()]));
        assert_eq!(h.candidates("ls ge", 5), (5, vec![]));
        // A path with no session: nothing.
        assert_eq!(h.candidates("ls /z", 5), (5, vec![]));
    }

    #[test]
    fn paths_complete_from_the_live_session() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (server, client) = rt.block_on(async {
            let cfg = zk_server::runtime::RuntimeConfig::for_tests("127.0.0.1:0".parse().unwrap());
            let server = zk_server::runtime::Server::start(cfg).await.unwrap();
            let c = Client::connect(&server.local_addr.to_string())
                .await
                .unwrap();
            for p in ["/app", "/apple", "/b", "/app/x1", "/app/x2", "/app/y"] {
                c.create(p, b"", &Acl::open_unsafe(), CreateMode::Persistent)
                    .await
                    .unwrap();
            }
            (server, c)
        });
        // Called from this (non-runtime) thread, as rustyline's reader thread does.
        let h = helper(&rt, Some(client.clone()));
        assert_eq!(
            h.candidates("ls /ap", 6),
            (4, vec!["app".to_string(), "apple".into()])
        );
        assert_eq!(
            h.candidates("get -s /app/x", 13),
            (12, vec!["x1".to_string(), "x2".into()])
        );
        assert_eq!(
            h.candidates("ls /", 4),
            (
                4,
                vec![
                    "app".to_string(),
                    "apple".into(),
                    "b".into(),
                    "zookeeper".into()
                ]
            )
        );
        // The cursor inside the line: only what is before it counts.
        assert_eq!(h.candidates("ls /b extra", 5), (4, vec!["b".to_string()]));
        assert_eq!(h.candidates("ls /nowhere/x", 13), (13, vec![]));
        rt.block_on(async {
            client.close().await;
            server.shutdown().await;
        });
    }
}
