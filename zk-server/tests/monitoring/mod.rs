//! Helpers for the monitoring tests: HTTP GET, Prometheus scrapes parsed with a text-format
//! parser, `mntr` and the admin commands.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// `GET path` over HTTP/1.1; (status, body).
pub async fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    tokio::time::timeout(Duration::from_secs(5), async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8(raw).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert!(
            !head.to_ascii_lowercase().contains("chunked"),
            "expected a sized body"
        );
        (status, body.to_owned())
    })
    .await
    .expect("HTTP answer in time")
}

/// Samples of `/metrics`, parsed with a Prometheus text-format parser: name (with the quantile
/// for summaries) to value, and name to type.
pub struct Scrape {
    pub values: BTreeMap<String, f64>,
    pub types: BTreeMap<String, String>,
}

pub async fn scrape(addr: SocketAddr) -> Scrape {
    let (status, body) = http_get(addr, "/metrics").await;
    assert_eq!(status, 200);
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("/metrics parses");
    let mut values = BTreeMap::new();
    for s in &parsed.samples {
        use prometheus_parse::Value as V;
        match &s.value {
            V::Gauge(v) | V::Counter(v) | V::Untyped(v) => {
                values.insert(s.metric.clone(), *v);
            }
            V::Summary(qs) => {
                for q in qs {
                    values.insert(format!("{}{{{}}}", s.metric, q.quantile), q.count);
                }
            }
            V::Histogram(_) => panic!("no histograms expected: {}", s.metric),
        }
    }
    // prometheus-parse folds _sum/_count into the summary; read them and the types from the
    // text as well.
    let mut types = BTreeMap::new();
    for l in body.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            let (n, t) = rest.split_once(' ').unwrap();
            types.insert(n.to_owned(), t.to_owned());
        } else if !l.starts_with('#') && !l.is_empty() {
            let (n, v) = l.rsplit_once(' ').unwrap();
            if n.ends_with("_sum") || n.ends_with("_count") {
                values.insert(n.to_owned(), v.parse().unwrap());
            }
        }
    }
    Scrape { values, types }
}

impl Scrape {
    pub fn v(&self, name: &str) -> f64 {
        *self
            .values
            .get(name)
            .unwrap_or_else(|| panic!("{name} not in /metrics: {:?}", self.values.keys()))
    }
}

/// A four-letter word's answer.
pub async fn four_letter(addr: SocketAddr, cmd: &str) -> String {
    tokio::time::timeout(Duration::from_secs(5), async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(cmd.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    })
    .await
    .expect("a four-letter answer in time")
}

pub async fn mntr(client: SocketAddr) -> BTreeMap<String, String> {
    four_letter(client, "mntr")
        .await
        .lines()
        // While not serving, ZooKeeper's mntr answers one line of prose instead: no keys.
        .filter(|l| l.contains('\t'))
        .map(|l| {
            let (k, v) = l.split_once('\t').expect("zk_<key>\\t<value>");
            (
                k.strip_prefix("zk_").expect("zk_ prefix").to_owned(),
                v.to_owned(),
            )
        })
        .collect()
}

pub async fn monitor(admin: SocketAddr) -> serde_json::Map<String, serde_json::Value> {
    command(admin, "monitor").await
}

/// `GET /commands/<cmd>`: its JSON object (always HTTP 200, as ZooKeeper 3.8 answers).
pub async fn command(admin: SocketAddr, cmd: &str) -> serde_json::Map<String, serde_json::Value> {
    let (status, body) = http_get(admin, &format!("/commands/{cmd}")).await;
    assert_eq!(status, 200);
    match serde_json::from_str(&body).expect("JSON") {
        serde_json::Value::Object(m) => m,
        other => panic!("monitor answered {other}"),
    }
}

/// Polls the scrape until `pred` holds (bounded).
pub async fn until(addr: SocketAddr, what: &str, pred: impl Fn(&Scrape) -> bool) -> Scrape {
    for _ in 0..200 {
        let s = scrape(addr).await;
        if pred(&s) {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{what} never happened");
}
