//! The shipped `/etc`-style configs (`confs/mesos/etc`) parse with the flags the binaries use.

use std::path::{Path, PathBuf};

use mesos::flags::{self, Sources};

fn etc(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../confs/mesos/etc")
        .join(dir)
}

fn sources(zk_file_flag: &'static str) -> Sources {
    Sources {
        env: vec![],
        default_conf_dirs: vec![],
        zk_file_flag,
    }
}

#[test]
fn master_configs_parse() {
    let args = vec![
        format!("--conf_dir={}", etc("mesos").display()),
        format!("--conf_dir={}", etc("mesos-master").display()),
        "--port=5052".to_string(),
    ];
    let f = flags::load(mesos::master::options::SPECS, &args, &sources("zk")).unwrap();
    let zk = mesos::zk::ZkUrl::parse(f.get("zk").unwrap()).unwrap();
    assert_eq!(zk.servers, "127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183");
    assert_eq!(zk.path, "/mesos");
    assert_eq!(f.parse::<u32>("quorum").unwrap(), Some(2));
    assert_eq!(f.get("cluster"), Some("zkrs-pseudo-cluster"));
    assert_eq!(f.get("ip"), Some("127.0.0.1"));
    assert_eq!(f.parse::<u16>("port").unwrap(), Some(5052));
    assert!(f
        .origin("quorum")
        .ends_with("confs/mesos/etc/mesos-master/quorum"));
}

#[test]
fn agent_configs_parse() {
    let args = vec![
        format!("--conf_dir={}", etc("mesos").display()),
        format!("--conf_dir={}", etc("mesos-slave").display()),
        "--port=5053".to_string(),
        "--work_dir=/tmp/agent2".to_string(),
        "--resources=cpus:2;mem:2048;disk:10000;ports:[31500-31999]".to_string(),
    ];
    let f = flags::load(mesos::agent::config::SPECS, &args, &sources("master")).unwrap();
    let c = mesos::agent::config::AgentConfig::from_flags(&f).unwrap();
    assert_eq!(
        f.get("master"),
        Some("zk://127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183/mesos")
    );
    assert_eq!(
        c.containerizers,
        vec!["docker".to_string(), "mesos".to_string()]
    );
    assert_eq!(f.get("ip"), Some("127.0.0.1"));
    assert_eq!(f.parse::<u16>("port").unwrap(), Some(5053));
}
