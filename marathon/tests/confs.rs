//! The shipped app definitions (`confs/marathon/*.json`, from the seeds) are answered like
//! Marathon: id normalised, defaults filled in.

use std::path::Path;

use serde_json::Value;

#[test]
fn seed_app_definitions_parse_with_marathons_defaults() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../confs/marathon");
    let mut seen = 0;
    for e in std::fs::read_dir(&dir).unwrap().flatten() {
        let p = e.path();
        if p.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let v: Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        let app = marathon::app::parse(&v, "/", "2026-11-22T00:00:00.000Z")
            .unwrap_or_else(|e| panic!("{}: {e:?}", p.display()));
        let j = app.to_json();
        let raw = v["id"].as_str().unwrap();
        assert_eq!(j["id"], format!("/{raw}"), "{}", p.display());
        assert_eq!(j["backoffFactor"], 1.15);
        assert_eq!(j["upgradeStrategy"]["minimumHealthCapacity"], 1.0);
        seen += 1;
    }
    assert_eq!(seen, 4);
}

#[test]
fn the_etc_marathon_conf_files_set_the_flags() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../confs/marathon/etc/marathon/conf");
    let sources = mesos::flags::Sources {
        env: vec![("MARATHON_HTTP_PORT".into(), "8081".into())],
        default_conf_dirs: vec![],
        zk_file_flag: "master",
    };
    let args = vec![format!("--conf_dir={}", conf.display())];
    let f = mesos::flags::load_with_prefix(marathon::options::SPECS, &args, &sources, "MARATHON_")
        .unwrap();
    assert_eq!(
        f.get("master"),
        Some("zk://127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183/mesos")
    );
    assert_eq!(
        f.get("zk"),
        Some("zk://127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183/marathon")
    );
    assert_eq!(f.get("hostname"), Some("127.0.0.1"));
    assert_eq!(
        f.get("http_port"),
        Some("8081"),
        "the environment beats the file"
    );
}
