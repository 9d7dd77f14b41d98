//! The results directory's files: the EDN of a small fixed history (golden), and the latency
//! SVG (well-formed, with the fault rectangles and one point per completed op).

use jepsen::history::{Op, Type, Value, F};
use jepsen::report::{self, edn, svg, Fault, Summary, Verdict};

fn op(index: usize, process: u64, typ: Type, f: F, key: u64, value: Value, t: u64) -> Op {
    Op {
        index,
        process,
        typ,
        f,
        key,
        value,
        time_ns: t,
        node: None,
        error: None,
    }
}

fn fixed() -> Vec<Op> {
    use Type::*;
    let mut h = vec![
        op(0, 0, Invoke, F::Write, 1, Value::Int(3), 1_000),
        op(1, 1, Invoke, F::Cas, 0, Value::Pair(1, 2), 2_000),
        op(2, 0, Ok, F::Write, 1, Value::Int(3), 3_000),
        op(3, 1, Info, F::Cas, 0, Value::Pair(1, 2), 4_000_000),
        op(4, 2, Invoke, F::Read, 1, Value::None, 5_000_000),
        op(5, 2, Ok, F::Read, 1, Value::Int(3), 6_000_000),
        op(6, 3, Invoke, F::Add, 0, Value::Int(7), 700_000_000),
        op(7, 3, Fail, F::Add, 0, Value::Int(7), 800_000_000),
        op(8, 4, Invoke, F::ReadAll, 0, Value::None, 2_000_000_000),
        op(
            9,
            4,
            Ok,
            F::ReadAll,
            0,
            Value::List(vec![1, 7]),
            2_500_000_000,
        ),
    ];
    h[3].error = Some("timeout".into());
    h[4].node = Some(2);
    h[5].node = Some(2);
    h[7].error = Some("quote \"x\"\\".into());
    h
}

const GOLDEN: &str = r#"[{:type :invoke, :f :write, :value [1 3], :process 0, :time 1000, :index 0}
 {:type :invoke, :f :cas, :value [0 [1 2]], :process 1, :time 2000, :index 1}
 {:type :ok, :f :write, :value [1 3], :process 0, :time 3000, :index 2}
 {:type :info, :f :cas, :value [0 [1 2]], :process 1, :time 4000000, :index 3, :error "timeout"}
 {:type :invoke, :f :read, :value [1 nil], :process 2, :time 5000000, :index 4, :node 2}
 {:type :ok, :f :read, :value [1 3], :process 2, :time 6000000, :index 5, :node 2}
 {:type :invoke, :f :add, :value 7, :process 3, :time 700000000, :index 6}
 {:type :fail, :f :add, :value 7, :process 3, :time 800000000, :index 7, :error "quote \"x\"\\"}
 {:type :invoke, :f :read, :value nil, :process 4, :time 2000000000, :index 8}
 {:type :ok, :f :read, :value [1 7], :process 4, :time 2500000000, :index 9}]
"#;

#[test]
fn edn_of_a_fixed_history() {
    assert_eq!(edn::history(&fixed()), GOLDEN);
}

#[test]
fn per_key_register_histories_for_knossos() {
    let per_key = edn::register_histories(&fixed());
    assert_eq!(per_key.keys().copied().collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(
        per_key[&0],
        r#"[{:type :invoke, :f :cas, :value [1 2], :process 1, :time 2000, :index 0}
 {:type :info, :f :cas, :value [1 2], :process 1, :time 4000000, :index 1, :error "timeout"}]
"#
    );
    assert_eq!(
        per_key[&1],
        r#"[{:type :invoke, :f :write, :value 3, :process 0, :time 1000, :index 0}
 {:type :ok, :f :write, :value 3, :process 0, :time 3000, :index 1}
 {:type :invoke, :f :read, :value nil, :process 2, :time 5000000, :index 2, :node 2}
 {:type :ok, :f :read, :value 3, :process 2, :time 6000000, :index 3, :node 2}]
"#
    );
}

/// A minimal XML check: every tag closes in order, attributes are quoted, text has no raw
/// `<` or `&` outside entities. Returns the start tags (name and raw attributes).
fn parse_xml(s: &str) -> Vec<(String, String)> {
    let mut stack: Vec<String> = Vec::new();
    let mut tags = Vec::new();
    let mut rest = s;
    while let Some(lt) = rest.find('<') {
        let text = &rest[..lt];
        check_text(text);
        let gt = rest[lt..].find('>').expect("unclosed tag") + lt;
        let tag = &rest[lt + 1..gt];
        rest = &rest[gt + 1..];
        if tag.starts_with('?') {
            assert!(tag.ends_with('?'), "bad declaration {tag}");
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.trim()),
                "mismatched </{name}>"
            );
            continue;
        }
        let self_closing = tag.ends_with('/');
        let body = tag.trim_end_matches('/');
        let (name, attrs) = body.split_once(' ').unwrap_or((body, ""));
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()),
            "bad tag name {name:?}"
        );
        assert_eq!(
            attrs.matches('"').count() % 2,
            0,
            "unbalanced quotes in <{tag}>"
        );
        check_text(attrs);
        tags.push((name.to_string(), attrs.to_string()));
        if !self_closing {
            stack.push(name.to_string());
        }
    }
    check_text(rest);
    assert!(stack.is_empty(), "unclosed elements {stack:?}");
    assert!(tags.first().is_some_and(|t| t.0 == "svg"), "root is <svg>");
    tags
}

fn check_text(t: &str) {
    for (i, _) in t.match_indices('&') {
        let ent = &t[i..];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                .iter()
                .any(|e| ent.starts_with(e)),
            "raw & in {t:?}"
        );
    }
}

#[test]
fn latency_svg_is_well_formed_with_faults_and_points() {
    let faults = vec![
        Fault::new(
            100_000_000,
            900_000_000,
            "partition <majority|minority> & more",
        ),
        Fault::new(1_500_000_000, 1_600_000_000, "kill n1"),
    ];
    let s = svg::latency(&fixed(), &faults);
    let tags = parse_xml(&s);
    let count = |name: &str, class: &str| {
        tags.iter()
            .filter(|(n, a)| n == name && a.contains(&format!("class=\"{class}\"")))
            .count()
    };
    assert_eq!(count("rect", "fault"), 2);
    assert_eq!(count("circle", "ok"), 3);
    assert_eq!(count("circle", "fail"), 1);
    assert_eq!(count("circle", "info"), 1);
    assert!(s.contains("partition &lt;majority|minority&gt; &amp; more"));
    // Points lie inside the plot and a fault's rectangle spans its period.
    for (n, a) in &tags {
        if n == "circle" && a.contains("class=") {
            let cy: f64 = attr(a, "cy").parse().unwrap();
            assert!((40.0..=510.0).contains(&cy), "cy {cy}");
        }
    }
    let r = tags
        .iter()
        .find(|(n, a)| n == "rect" && a.contains("fault"))
        .unwrap();
    let (x, w): (f64, f64) = (
        attr(&r.1, "x").parse().unwrap(),
        attr(&r.1, "width").parse().unwrap(),
    );
    assert!(x > 80.0 && w > 1.0);
    // An empty history still draws.
    parse_xml(&svg::latency(&[], &[]));
}

/// Ops that land on one pixel with one outcome are drawn once; the legend still counts them
/// all (a 30-minute run has millions of ops).
#[test]
fn latency_svg_draws_one_circle_per_pixel_and_outcome() {
    use Type::*;
    let mut h = Vec::new();
    for i in 0..1000u64 {
        // 1000 ops invoked within 1 us of each other, all 2 ms long: one pixel.
        h.push(op(
            2 * i as usize,
            i,
            Invoke,
            F::Read,
            0,
            Value::None,
            1_000_000_000 + i,
        ));
        h.push(op(
            2 * i as usize + 1,
            i,
            Ok,
            F::Read,
            0,
            Value::Int(0),
            1_002_000_000 + i,
        ));
    }
    // A later op far away gets its own circle.
    h.push(op(
        2000,
        5000,
        Invoke,
        F::Read,
        0,
        Value::None,
        9_000_000_000,
    ));
    h.push(op(2001, 5000, Ok, F::Read, 0, Value::Int(0), 9_500_000_000));
    let s = svg::latency(&h, &[]);
    let tags = parse_xml(&s);
    let ok = tags
        .iter()
        .filter(|(n, a)| n == "circle" && a.contains("class=\"ok\""))
        .count();
    assert_eq!(ok, 2);
    assert!(s.contains("ok (1001)"), "the legend counts every op");
}

fn attr<'a>(attrs: &'a str, name: &str) -> &'a str {
    let at = attrs.find(&format!(" {name}=\"")).or_else(|| {
        attrs
            .starts_with(&format!("{name}=\""))
            .then_some(0)
            .map(|_| 0)
    });
    let at = at.expect("attribute present");
    let from = attrs[at..].find('"').unwrap() + at + 1;
    let to = attrs[from..].find('"').unwrap() + from;
    &attrs[from..to]
}

#[test]
fn results_directory() {
    let dir = std::env::temp_dir().join(format!("jepsen-report-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let summary = Summary {
        title: "register test".into(),
        params: vec![("seed".into(), "7".into())],
        verdicts: vec![
            Verdict::new("linearizable", Some(true), "2 keys"),
            Verdict::new("set", None, "no final read"),
        ],
    };
    assert_eq!(summary.valid(), None);
    report::write(&dir, &fixed(), &[Fault::new(1, 2, "pause n2")], &summary).unwrap();
    for f in [
        "history.edn",
        "history.txt",
        "faults.txt",
        "summary.txt",
        "latency.svg",
        "independent/0.edn",
        "independent/1.edn",
    ] {
        assert!(dir.join(f).is_file(), "{f} written");
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("history.edn")).unwrap(),
        GOLDEN
    );
    let txt = std::fs::read_to_string(dir.join("history.txt")).unwrap();
    assert_eq!(txt.lines().count(), 10);
    assert!(txt.lines().nth(3).unwrap().contains("info"), "{txt}");
    let sum = std::fs::read_to_string(dir.join("summary.txt")).unwrap();
    assert!(sum.contains("verdict: UNKNOWN"), "{sum}");
    assert!(sum.contains("5 invoked, 5 completed"), "{sum}");
    assert!(sum.contains("pause n2"), "{sum}");
    print!("{sum}\n{txt}");
    std::fs::remove_dir_all(&dir).unwrap();
}
