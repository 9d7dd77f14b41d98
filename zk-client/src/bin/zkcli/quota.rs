//! zkCli 3.8's client-side quota commands (`SetQuotaCommand`, `ListQuotaCommand`,
//! `DelQuotaCommand`): they only read and write the znodes under `/zookeeper/quota`; the
//! server keeps `zookeeper_stats` up to date.

use zk_client::{Client, CreateMode, Error, ErrorCode};

use crate::fmt;

use zk_proto::quota::{limit_path, stat_path, BYTES, COUNT, LIMIT_NODE};
pub use zk_proto::quota::{StatsTrack, BYTES_HARD, COUNT_HARD, QUOTA};

/// The option letters of zkCli's quota option group, with their descriptions.
pub const GROUP: [(char, &str); 4] = [
    ('n', "num soft quota"),
    ('b', "bytes soft quota"),
    ('N', "num hard quota"),
    ('B', "bytes hard quota"),
];

pub fn key_of(c: char) -> &'static str {
    match c {
        'n' => COUNT,
        'b' => BYTES,
        'N' => COUNT_HARD,
        _ => BYTES_HARD,
    }
}

/// commons-cli's `OptionGroup` checks over the words (`valued`: each option takes the next
/// word): the selected option, or `AlreadySelectedException`'s text.
pub fn group_option(words: &[String], valued: bool) -> Result<Option<char>, String> {
    let mut selected = None;
    let mut it = words.iter().skip(1);
    while let Some(w) = it.next() {
        let mut cs = w.chars();
        if w.len() != 2 || cs.next() != Some('-') {
            continue;
        }
        let c = cs.next().unwrap_or('-');
        if !GROUP.iter().any(|(g, _)| *g == c) {
            continue;
        }
        match selected {
            Some(s) if s != c => {
                return Err(format!(
                    "org.apache.commons.cli.AlreadySelectedException: The option '{c}' was \
                     specified but an option from this group has already been selected: '{s}'"
                ))
            }
            _ => selected = Some(c),
        }
        if valued {
            it.next();
        }
    }
    Ok(selected)
}

pub fn missing_option() -> String {
    let list: Vec<String> = GROUP.iter().map(|(c, d)| format!("-{c} {d}")).collect();
    format!(
        "org.apache.commons.cli.MissingOptionException: Missing required option: [{}]",
        list.join(", ")
    )
}

/// What a quota command reports: lines for stdout and stderr, in order.
pub enum Line {
    Out(String),
    Err(String),
}

/// A quota command's failure: `CliWrapperException`/`MalformedPathException` text.
pub type QResult<T> = Result<T, String>;

fn ke(path: &str) -> impl Fn(Error) -> String + '_ {
    move |e| fmt::error(&e, path)
}

fn trim_quota_path(p: &str) -> &str {
    p.strip_prefix(QUOTA).unwrap_or(p)
}

async fn children_or_none(c: &Client, p: &str) -> QResult<Option<Vec<String>>> {
    match c.get_children(p).await {
        Ok(k) => Ok(Some(k)),
        Err(e) if e.code() == Some(ErrorCode::NoNode) => Ok(None),
        Err(e) => Err(fmt::error(&e, p)),
    }
}

async fn create_ignoring_exists(c: &Client, p: &str, data: &[u8]) -> QResult<()> {
    match c
        .create(p, data, &fmt::open_acl(), CreateMode::Persistent)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.code() == Some(ErrorCode::NodeExists) => Ok(()),
        Err(e) => Err(fmt::error(&e, p)),
    }
}

/// `SetQuotaCommand.createQuota`.
pub async fn create_quota(
    c: &Client,
    path: &str,
    quota: &StatsTrack,
    out: &mut Vec<Line>,
) -> QResult<()> {
    fmt::validate_path(path, false)?;
    if c.exists(path).await.map_err(ke(path))?.is_none() {
        return Err(format!("{path} does not exist."));
    }
    // a child with a quota: ZKUtil.visitSubTreeDFS over the quota tree of `path`
    let real = format!("{QUOTA}{path}");
    if c.exists(&real).await.map_err(ke(&real))?.is_some() {
        let mut stack = vec![real.clone()];
        while let Some(p) = stack.pop() {
            let Some(mut kids) = children_or_none(c, &p).await? else {
                continue;
            };
            if p != real && kids.iter().any(|k| k == LIMIT_NODE) {
                return Err(format!(
                    "{path} has a child {} which has a quota",
                    trim_quota_path(&p)
                ));
            }
            kids.sort();
            for k in kids.iter().rev() {
                stack.push(format!("{p}/{k}"));
            }
        }
    }
    // a parent with a quota
    let parts: Vec<&str> = path.split('/').collect();
    let mut qp = QUOTA.to_string();
    for part in parts.iter().take(parts.len().saturating_sub(1)).skip(1) {
        qp.push('/');
        qp.push_str(part);
        let Some(kids) = children_or_none(c, &qp).await? else {
            break;
        };
        if kids.is_empty() {
            break;
        }
        if qp != real && kids.iter().any(|k| k == LIMIT_NODE) {
            return Err(format!(
                "{path} has a parent {} which has a quota",
                trim_quota_path(&qp)
            ));
        }
    }
    if c.exists(QUOTA).await.map_err(ke(QUOTA))?.is_none() {
        create_ignoring_exists(c, "/zookeeper", b"").await?;
        create_ignoring_exists(c, QUOTA, b"").await?;
    }
    let mut qp = QUOTA.to_string();
    for part in parts.iter().skip(1) {
        qp.push('/');
        qp.push_str(part);
        if c.exists(&qp).await.map_err(ke(&qp))?.is_none() {
            create_ignoring_exists(c, &qp, b"").await?;
        }
    }
    let (stat_path, limit_path) = (stat_path(path), limit_path(path));
    let open = fmt::open_acl();
    let get = |p: String| async move {
        c.get_data(&p)
            .await
            .map(|(d, _)| StatsTrack::parse(&d))
            .map_err(|e| fmt::error(&e, &p))
    };
    if c.exists(&limit_path)
        .await
        .map_err(ke(&limit_path))?
        .is_none()
    {
        c.create(
            &limit_path,
            quota.to_string().as_bytes(),
            &open,
            CreateMode::Persistent,
        )
        .await
        .map_err(ke(&limit_path))?;
        c.create(
            &stat_path,
            StatsTrack::usage(0, 0).to_string().as_bytes(),
            &open,
            CreateMode::Persistent,
        )
        .await
        .map_err(ke(&stat_path))?;
        let q = get(limit_path.clone()).await?;
        let s = get(stat_path.clone()).await?;
        check_quota(&q, &s, out);
    } else {
        let mut q = get(limit_path.clone()).await?;
        for k in [COUNT, BYTES, COUNT_HARD, BYTES_HARD] {
            if quota.get(k) > -1 {
                q.set(k, quota.get(k));
            }
        }
        let s = get(stat_path.clone()).await?;
        check_quota(&q, &s, out);
        c.set_data(&limit_path, q.to_string().as_bytes(), -1)
            .await
            .map_err(ke(&limit_path))?;
    }
    Ok(())
}

/// `SetQuotaCommand.checkQuota`: warnings when the new quota is below the current stats.
fn check_quota(q: &StatsTrack, s: &StatsTrack, out: &mut Vec<Line>) {
    let below = |lim: i64, cur: i64| lim > -1 && lim < cur;
    if below(q.count(), s.count()) || below(q.count_hard_limit(), s.count()) {
        out.push(Line::Out(format!(
            "[Warning]: the count quota you create is less than the existing count:{}",
            s.count()
        )));
    }
    if below(q.bytes(), s.bytes()) || below(q.byte_hard_limit(), s.bytes()) {
        out.push(Line::Out(format!(
            "[Warning]: the bytes quota you create is less than the existing bytes:{}",
            s.bytes()
        )));
    }
}

/// `ListQuotaCommand.exec`.
pub async fn list_quota(c: &Client, path: &str, out: &mut Vec<Line>) -> QResult<()> {
    let limit_path = limit_path(path);
    out.push(Line::Err(format!("absolute path is {limit_path}")));
    fmt::validate_path(&limit_path, false)?;
    let stat_path = stat_path(path);
    for (p, what) in [(&limit_path, "quota"), (&stat_path, "stat")] {
        match c.get_data(p).await {
            Ok((d, _)) => out.push(Line::Out(format!(
                "Output {what} for {path} {}",
                StatsTrack::parse(&d)
            ))),
            Err(e) if e.code() == Some(ErrorCode::NoNode) => {
                out.push(Line::Err(format!("quota for {path} does not exist.")));
                return Ok(());
            }
            Err(e) => return Err(fmt::error(&e, p)),
        }
    }
    Ok(())
}

/// `DelQuotaCommand.delQuota`; `which` holds the keys to unset, `None` deletes the quota.
pub async fn del_quota(
    c: &Client,
    path: &str,
    which: Option<&str>,
    out: &mut Vec<Line>,
) -> QResult<()> {
    let parent = format!("{QUOTA}{path}");
    let limit_path = limit_path(path);
    fmt::validate_path(&limit_path, false)?;
    if c.exists(&limit_path)
        .await
        .map_err(ke(&limit_path))?
        .is_none()
    {
        out.push(Line::Out(format!("Quota does not exist for {path}")));
        return Ok(());
    }
    let data = match c.get_data(&limit_path).await {
        Ok((d, _)) => d,
        Err(e) if e.code() == Some(ErrorCode::NoNode) => {
            out.push(Line::Err(format!("quota for {path} does not exist.")));
            return Ok(());
        }
        Err(e) => return Err(fmt::error(&e, &limit_path)),
    };
    match which {
        Some(k) => {
            let mut q = StatsTrack::parse(&data);
            q.set(k, -1);
            c.set_data(&limit_path, q.to_string().as_bytes(), -1)
                .await
                .map_err(ke(&limit_path))?;
        }
        None => {
            let kids = c.get_children(&parent).await.map_err(ke(&parent))?;
            for k in kids {
                let p = format!("{parent}/{k}");
                c.delete(&p, -1).await.map_err(ke(&p))?;
            }
            // trimProcQuotas: remove the emptied ancestors up to /zookeeper/quota
            let mut p = parent;
            while p != QUOTA {
                if !c.get_children(&p).await.map_err(ke(&p))?.is_empty() {
                    break;
                }
                c.delete(&p, -1).await.map_err(ke(&p))?;
                let cut = p.rfind('/').unwrap_or(0);
                p.truncate(cut);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_track_format() {
        let mut q = StatsTrack::default();
        for k in [COUNT, BYTES, COUNT_HARD, BYTES_HARD] {
            q.set(k, -1);
        }
        q.set(COUNT, 10);
        assert_eq!(
            q.to_string(),
            "count=10,bytes=-1=;byteHardLimit=-1;countHardLimit=-1"
        );
        assert_eq!(StatsTrack::parse(q.to_string().as_bytes()), q);
        assert_eq!(
            StatsTrack::parse(b"count=1,bytes=4").to_string(),
            "count=1,bytes=4"
        );
        assert_eq!(StatsTrack::default().to_string(), "count=-1,bytes=-1");
    }
}
