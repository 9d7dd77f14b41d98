//! The setup phase, on one pipelined session before the clients start: `/zk-bench`, the keys
//! `/zk-bench/k<j>` (set/get/mixed/multi/watch), the create parents `/zk-bench/c<i>`, or
//! populate's parents `/zk-bench/pop/p<k>`. Nodes left by an earlier run are reused: keys
//! are kept (see below), creates continue after the
//! parent's `cversion` and populate after the highest existing parent, so runs against the
//! same server never collide on a name.
//!
//! Keys that exist are kept, except that for reading ops (get, mixed, watch) a key whose value
//! size is not `--value-size` is rewritten (one setData, which bumps its version).

use std::time::Instant;

use anyhow::{bail, Result};
use zk_proto::codec::{Decode, Reader};
use zk_proto::proto::GetChildrenResponse;

use super::conn::Conn;
use super::options::{Length, OpKind, Options};
use super::session::POP_FANOUT;
use super::wire::{self, error_name, Paths, NODE_EXISTS};

/// Requests in flight during setup.
const WINDOW: usize = 128;

/// What the sessions need from setup.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// create: the first `n<k>` number of each client.
    pub create_bases: Vec<u64>,
    /// populate: the first parent number of this run, and how many parents it has.
    pub first_parent: u64,
    pub parents: u64,
    /// Keys created, and existing keys rewritten because their value size differed.
    pub keys_created: u64,
    pub keys_rewritten: u64,
    pub secs: f64,
}

fn fail(what: &str, path: &[u8], err: i32) -> anyhow::Error {
    let hint = if err == zk_proto::ErrorCode::NoNode.code() {
        " (does the chroot exist?)"
    } else {
        ""
    };
    anyhow::anyhow!(
        "setup: {what} {} failed: {}{hint}",
        String::from_utf8_lossy(path),
        error_name(err)
    )
}

/// Creates `path` unless it exists.
async fn ensure(c: &mut Conn, path: &[u8]) -> Result<()> {
    let (err, _) = c.call(|out, xid| wire::create(out, xid, path, b"")).await?;
    if err != 0 && err != NODE_EXISTS {
        return Err(fail("create", path, err));
    }
    Ok(())
}

/// Checks that a server can be reached, then (unless `--no-setup`) prepares the tree for
/// `opts.op` with `clients` sessions.
pub async fn prepare(opts: &Options, clients: usize, value: &[u8]) -> Result<Prepared> {
    let t0 = Instant::now();
    let mut c = Conn::connect_any(&opts.servers, opts.session_timeout_ms, opts.timeout).await?;
    let mut out = Prepared {
        create_bases: vec![0; clients],
        ..Prepared::default()
    };
    let r = if opts.setup || opts.op == OpKind::Populate {
        prepare_tree(&mut c, opts, clients, value, &mut out).await
    } else {
        Ok(())
    };
    c.close().await;
    r?;
    out.secs = t0.elapsed().as_secs_f64();
    Ok(out)
}

async fn prepare_tree(
    c: &mut Conn,
    opts: &Options,
    clients: usize,
    value: &[u8],
    out: &mut Prepared,
) -> Result<()> {
    let mut paths = Paths::new(&opts.chroot);
    ensure(c, paths.base()).await?;
    match opts.op {
        OpKind::Create => {
            let mut p = paths.clone();
            c.batch(
                clients as u64,
                WINDOW,
                |i, buf, xid| wire::create(buf, xid, p.client_dir(i), b""),
                |i, err, _| {
                    if err != 0 && err != NODE_EXISTS {
                        return Err(fail("create", paths.client_dir(i), err));
                    }
                    Ok(())
                },
            )
            .await?;
            let bases = &mut out.create_bases;
            c.batch(
                clients as u64,
                WINDOW,
                |i, buf, xid| wire::exists(buf, xid, p.client_dir(i)),
                |i, err, body| {
                    if err != 0 {
                        return Err(fail("exists", paths.client_dir(i), err));
                    }
                    let Some((cversion, _)) = wire::stat_cversion_children(body) else {
                        bail!("setup: short exists reply");
                    };
                    bases[i as usize] = u64::try_from(cversion).unwrap_or(0);
                    Ok(())
                },
            )
            .await?;
        }
        OpKind::Set | OpKind::Get | OpKind::Mixed | OpKind::Multi | OpKind::Watch => {
            let mut existing = Vec::new();
            let mut p = paths.clone();
            c.batch(
                opts.keys,
                WINDOW,
                |j, buf, xid| wire::create(buf, xid, p.key(j), value),
                |j, err, _| match err {
                    0 => Ok(()),
                    NODE_EXISTS => {
                        existing.push(j);
                        Ok(())
                    }
                    e => Err(fail("create", paths.key(j), e)),
                },
            )
            .await?;
            out.keys_created = opts.keys - existing.len() as u64;
            // Reads should see this run's value size: rewrite the keys whose size differs.
            if matches!(opts.op, OpKind::Get | OpKind::Mixed | OpKind::Watch) {
                let mut resize = Vec::new();
                c.batch(
                    existing.len() as u64,
                    WINDOW,
                    |i, buf, xid| wire::exists(buf, xid, p.key(existing[i as usize])),
                    |i, err, body| {
                        let j = existing[i as usize];
                        if err != 0 {
                            return Err(fail("exists", paths.key(j), err));
                        }
                        if wire::stat_data_length(body) != Some(value.len() as i32) {
                            resize.push(j);
                        }
                        Ok(())
                    },
                )
                .await?;
                c.batch(
                    resize.len() as u64,
                    WINDOW,
                    |i, buf, xid| wire::set_data(buf, xid, p.key(resize[i as usize]), value),
                    |i, err, _| {
                        if err != 0 {
                            return Err(fail("setData", paths.key(resize[i as usize]), err));
                        }
                        Ok(())
                    },
                )
                .await?;
                out.keys_rewritten = resize.len() as u64;
            }
        }
        OpKind::Populate => {
            let Length::Count(n) = opts.length else {
                bail!("populate needs --count");
            };
            ensure(c, paths.pop_dir()).await?;
            let (err, body) = c
                .call(|buf, xid| wire::get_children(buf, xid, paths.pop_dir()))
                .await?;
            if err != 0 {
                return Err(fail("getChildren", paths.pop_dir(), err));
            }
            let children = GetChildrenResponse::decode(&mut Reader::new(&body))?.children;
            out.first_parent = children
                .iter()
                .filter_map(|name| name.strip_prefix('p')?.parse::<u64>().ok())
                .max()
                .map_or(0, |m| m + 1);
            out.parents = n.div_ceil(POP_FANOUT);
            let first = out.first_parent;
            let mut p = paths.clone();
            c.batch(
                out.parents,
                WINDOW,
                |k, buf, xid| wire::create(buf, xid, p.pop_parent(first + k), b""),
                |k, err, _| {
                    if err != 0 {
                        return Err(fail("create", paths.pop_parent(first + k), err));
                    }
                    Ok(())
                },
            )
            .await?;
        }
    }
    Ok(())
}
