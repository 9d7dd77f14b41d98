//! App definitions: reading Marathon's app JSON, checking it (422 bodies in Marathon's shape),
//! filling in Marathon 1.x's defaults, and writing it back with only the fields Marathon 1.x
//! returns (marathon-python 0.13 builds its objects from a fixed list of field names and fails
//! on any other).
//!
//! Pure: the version timestamp comes in as an argument.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::validation::{Errors, ValidationError};

/// Marathon 1.x's defaults.
pub const DEFAULT_CPUS: f64 = 1.0;
pub const DEFAULT_MEM: f64 = 128.0;
pub const DEFAULT_BACKOFF_SECONDS: f64 = 1.0;
pub const DEFAULT_BACKOFF_FACTOR: f64 = 1.15;
pub const DEFAULT_MAX_LAUNCH_DELAY_SECONDS: f64 = 300.0;

/// One segment of an app or group id, as Marathon's `PathId` allows it.
pub fn valid_segment(s: &str) -> bool {
    if s == "." || s == ".." {
        return true;
    }
    // ^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$
    !s.is_empty()
        && s.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
        })
}

pub const ID_PATTERN: &str = r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])|(\.|\.\.)$";

/// Makes `id` absolute relative to `base` (`nginx` under `/` is `/nginx`; `../x` climbs),
/// without a trailing slash. `None` when a segment is invalid.
pub fn normalize_id(id: &str, base: &str) -> Option<String> {
    let mut parts: Vec<&str> = if id.starts_with('/') {
        Vec::new()
    } else {
        base.split('/').filter(|s| !s.is_empty()).collect()
    };
    for seg in id.split('/').filter(|s| !s.is_empty()) {
        if !valid_segment(seg) {
            return None;
        }
        match seg {
            "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// A port of the app's own (not a docker mapping): `portDefinitions[]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PortDefinition {
    /// 0 until a service port is assigned.
    pub port: u32,
    pub protocol: String,
    pub name: Option<String>,
    pub labels: BTreeMap<String, String>,
}

/// A checked, defaulted app definition.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub id: String,
    pub cmd: Option<String>,
    pub args: Option<Vec<String>>,
    pub user: Option<String>,
    pub env: Map<String, Value>,
    pub instances: u32,
    pub cpus: f64,
    pub mem: f64,
    pub disk: f64,
    pub gpus: u32,
    pub executor: String,
    /// `[["field","OPERATOR","value"]]`, checked by `crate::constraints::parse`.
    pub constraints: Value,
    pub uris: Vec<String>,
    /// `[{uri, extract, executable, cache}]` (from `fetch`, or made from `uris`).
    pub fetch: Vec<Value>,
    pub store_urls: Vec<String>,
    pub port_definitions: Vec<PortDefinition>,
    pub require_ports: bool,
    pub backoff_seconds: f64,
    pub backoff_factor: f64,
    pub max_launch_delay_seconds: f64,
    /// As given, with Marathon's defaults filled in (type, volumes, docker fields).
    pub container: Option<Value>,
    /// As given (checked by `crate::health`), with defaults filled in.
    pub health_checks: Vec<Value>,
    pub readiness_checks: Vec<Value>,
    pub dependencies: Vec<String>,
    pub minimum_health_capacity: f64,
    pub maximum_over_capacity: f64,
    pub labels: BTreeMap<String, String>,
    pub accepted_resource_roles: Option<Vec<String>>,
    pub ip_address: Option<Value>,
    pub task_kill_grace_period_seconds: Option<f64>,
    pub unreachable_inactive_after_seconds: f64,
    pub unreachable_expunge_after_seconds: f64,
    pub kill_selection: String,
    pub secrets: Value,
    /// When this definition was stored (ISO-8601).
    pub version: String,
    pub last_scaling_at: String,
    pub last_config_change_at: String,
}

fn num(v: &Value, path: &str, errs: &mut Errors, min: f64) -> Option<f64> {
    match v.as_f64() {
        Some(x) if x.is_finite() && x >= min => Some(x),
        Some(x) if x.is_finite() => {
            errs.add(path, format!("got {x}, expected {min} or more"));
            None
        }
        _ => {
            errs.add(path, "error.expected.jsnumber");
            None
        }
    }
}

fn string(v: &Value, path: &str, errs: &mut Errors) -> Option<String> {
    match v.as_str() {
        Some(s) => Some(s.to_string()),
        None => {
            errs.add(path, "error.expected.jsstring");
            None
        }
    }
}

fn string_list(v: &Value, path: &str, errs: &mut Errors) -> Option<Vec<String>> {
    let Some(a) = v.as_array() else {
        errs.add(path, "error.expected.jsarray");
        return None;
    };
    let mut out = Vec::new();
    for (i, x) in a.iter().enumerate() {
        out.push(string(x, &format!("{path}({i})"), errs)?);
    }
    Some(out)
}

fn string_map(v: &Value, path: &str, errs: &mut Errors) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    match v.as_object() {
        Some(o) => {
            for (k, x) in o {
                if let Some(s) = string(x, &format!("{path}/{k}"), errs) {
                    out.insert(k.clone(), s);
                }
            }
        }
        None => errs.add(path, "error.expected.jsobject"),
    }
    out
}

/// Reads an app from JSON. `base` is the group the id is relative to (`/` for `/v2/apps`);
/// `version` stamps it. Every problem is reported at once, each under its JSON path.
pub fn parse(v: &Value, base: &str, version: &str) -> Result<App, Vec<ValidationError>> {
    let mut errs = Errors::default();
    let Some(o) = v.as_object() else {
        errs.add("/", "error.expected.jsobject");
        return Err(errs.into_vec());
    };
    let get = |k: &str| o.get(k).filter(|x| !x.is_null());

    let id = match get("id").and_then(Value::as_str) {
        Some(raw) => match normalize_id(raw, base) {
            Some(id) if id != "/" => id,
            _ => {
                errs.add(
                    "/id",
                    format!("'{raw}' must fully match the regular expression '{ID_PATTERN}'"),
                );
                String::new()
            }
        },
        None => {
            errs.add("/id", "error.path.missing");
            String::new()
        }
    };
    let cmd = get("cmd").and_then(|x| string(x, "/cmd", &mut errs));
    let args = get("args").and_then(|x| string_list(x, "/args", &mut errs));
    let container = get("container").cloned();
    if cmd.is_some() && args.as_ref().is_some_and(|a| !a.is_empty()) {
        errs.add(
            "/",
            "AppDefinition must either contain a 'cmd' or 'args', not both.",
        );
    }
    let has_args = args.as_ref().is_some_and(|a| !a.is_empty());
    if cmd.as_deref().is_none_or(str::is_empty) && !has_args && container.is_none() {
        errs.add(
            "/",
            "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'.",
        );
    }
    let user = get("user").and_then(|x| string(x, "/user", &mut errs));
    let env = match get("env") {
        None => Map::new(),
        Some(Value::Object(m)) => {
            for (k, x) in m {
                let ok = x.is_string() || x.get("secret").is_some_and(Value::is_string);
                if !ok {
                    errs.add(&format!("/env/{k}"), "error.expected.jsstring");
                }
            }
            m.clone()
        }
        Some(_) => {
            errs.add("/env", "error.expected.jsobject");
            Map::new()
        }
    };
    let instances = match get("instances") {
        None => Some(1),
        Some(x) => match x.as_u64() {
            Some(n) if n <= u64::from(u32::MAX) => Some(n as u32),
            _ => {
                match x.as_i64() {
                    Some(n) if n < 0 => {
                        errs.add("/instances", format!("got {n}, expected 0 or more"))
                    }
                    _ => errs.add("/instances", "error.expected.jsnumber"),
                }
                None
            }
        },
    };
    let cpus = get("cpus").map_or(Some(DEFAULT_CPUS), |x| num(x, "/cpus", &mut errs, 0.0));
    let mem = get("mem").map_or(Some(DEFAULT_MEM), |x| num(x, "/mem", &mut errs, 0.0));
    let disk = get("disk").map_or(Some(0.0), |x| num(x, "/disk", &mut errs, 0.0));
    let gpus = get("gpus").map_or(Some(0.0), |x| num(x, "/gpus", &mut errs, 0.0));
    let backoff_seconds = get("backoffSeconds").map_or(Some(DEFAULT_BACKOFF_SECONDS), |x| {
        num(x, "/backoffSeconds", &mut errs, 0.0)
    });
    let backoff_factor = get("backoffFactor").map_or(Some(DEFAULT_BACKOFF_FACTOR), |x| {
        num(x, "/backoffFactor", &mut errs, 1.0)
    });
    let max_launch_delay_seconds = get("maxLaunchDelaySeconds")
        .map_or(Some(DEFAULT_MAX_LAUNCH_DELAY_SECONDS), |x| {
            num(x, "/maxLaunchDelaySeconds", &mut errs, 0.0)
        });
    let executor = get("executor")
        .and_then(|x| string(x, "/executor", &mut errs))
        .unwrap_or_default();
    if !executor.is_empty() && executor != "//cmd" {
        errs.add(
            "/executor",
            "custom executors are not supported; leave 'executor' empty",
        );
    }

    let constraints = match get("constraints") {
        None => json!([]),
        Some(c) => match crate::constraints::parse(c) {
            Ok(parsed) => crate::constraints::to_json(&parsed),
            Err(list) => {
                for e in list {
                    for m in e.errors {
                        errs.add(&e.path, m);
                    }
                }
                c.clone()
            }
        },
    };

    let uris = get("uris")
        .and_then(|x| string_list(x, "/uris", &mut errs))
        .unwrap_or_default();
    let mut fetch: Vec<Value> = match get("fetch") {
        None => Vec::new(),
        Some(Value::Array(a)) => {
            let mut out = Vec::new();
            for (i, f) in a.iter().enumerate() {
                match f.get("uri").and_then(Value::as_str) {
                    Some(uri) => out.push(fetch_entry(uri, f)),
                    None => errs.add(&format!("/fetch({i})/uri"), "error.path.missing"),
                }
            }
            out
        }
        Some(_) => {
            errs.add("/fetch", "error.expected.jsarray");
            Vec::new()
        }
    };
    if fetch.is_empty() {
        fetch = uris.iter().map(|u| fetch_entry(u, &Value::Null)).collect();
    }
    let store_urls = get("storeUrls")
        .and_then(|x| string_list(x, "/storeUrls", &mut errs))
        .unwrap_or_default();

    let require_ports = match get("requirePorts") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            errs.add("/requirePorts", "error.expected.jsboolean");
            false
        }
    };
    let container = container.map(|c| normalize_container(&c, &mut errs));
    let has_mappings = container
        .as_ref()
        .is_some_and(|c| !port_mappings(c).is_empty());
    let port_definitions = match (get("portDefinitions"), get("ports")) {
        (Some(p), _) => parse_port_definitions(p, &mut errs),
        (None, Some(p)) => match p.as_array() {
            Some(a) => a
                .iter()
                .enumerate()
                .filter_map(|(i, x)| match x.as_u64().filter(|n| *n <= 65535) {
                    Some(n) => Some(PortDefinition {
                        port: n as u32,
                        protocol: "tcp".into(),
                        name: None,
                        labels: BTreeMap::new(),
                    }),
                    None => {
                        errs.add(&format!("/ports({i})"), "error.expected.port");
                        None
                    }
                })
                .collect(),
            None => {
                errs.add("/ports", "error.expected.jsarray");
                Vec::new()
            }
        },
        // Marathon gives an app with no ports and no container mappings one port.
        (None, None) if !has_mappings => vec![PortDefinition {
            port: 0,
            protocol: "tcp".into(),
            name: None,
            labels: BTreeMap::new(),
        }],
        (None, None) => Vec::new(),
    };
    let mut seen = std::collections::BTreeSet::new();
    for (i, p) in port_definitions.iter().enumerate() {
        if p.port != 0 && !seen.insert(p.port) {
            errs.add(
                &format!("/portDefinitions({i})/port"),
                "Ports must be unique.",
            );
        }
    }

    let mut health_checks = Vec::new();
    match get("healthChecks") {
        None => {}
        Some(Value::Array(a)) => {
            for (i, h) in a.iter().enumerate() {
                match crate::health::HealthCheck::parse(h, &format!("/healthChecks({i})")) {
                    Ok(hc) => health_checks.push(hc.to_json()),
                    Err(list) => {
                        for e in list {
                            for m in e.errors {
                                errs.add(&e.path, m);
                            }
                        }
                    }
                }
            }
        }
        Some(_) => errs.add("/healthChecks", "error.expected.jsarray"),
    }
    let readiness_checks = get("readinessChecks")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let dependencies = match get("dependencies") {
        None => Vec::new(),
        Some(d) => string_list(d, "/dependencies", &mut errs)
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter_map(|(i, d)| {
                let parent = id
                    .rsplit_once('/')
                    .map_or("/", |(p, _)| if p.is_empty() { "/" } else { p });
                let n = normalize_id(d, parent);
                if n.is_none() {
                    errs.add(
                        &format!("/dependencies({i})"),
                        format!("'{d}' is not a valid path"),
                    );
                }
                n
            })
            .collect(),
    };
    let (mut minimum_health_capacity, mut maximum_over_capacity) = (1.0, 1.0);
    if let Some(u) = get("upgradeStrategy") {
        if let Some(x) = u.get("minimumHealthCapacity") {
            match x.as_f64() {
                Some(f) if (0.0..=1.0).contains(&f) => minimum_health_capacity = f,
                _ => errs.add(
                    "/upgradeStrategy/minimumHealthCapacity",
                    "is greater than 1 or less than 0",
                ),
            }
        }
        if let Some(x) = u.get("maximumOverCapacity") {
            match x.as_f64() {
                Some(f) if (0.0..=1.0).contains(&f) => maximum_over_capacity = f,
                _ => errs.add(
                    "/upgradeStrategy/maximumOverCapacity",
                    "is greater than 1 or less than 0",
                ),
            }
        }
    }
    let labels = get("labels")
        .map(|l| string_map(l, "/labels", &mut errs))
        .unwrap_or_default();
    let accepted_resource_roles = get("acceptedResourceRoles")
        .and_then(|x| string_list(x, "/acceptedResourceRoles", &mut errs));
    let task_kill_grace_period_seconds = get("taskKillGracePeriodSeconds")
        .and_then(|x| num(x, "/taskKillGracePeriodSeconds", &mut errs, 0.0));
    let (mut inactive, mut expunge) = (0.0, 0.0);
    if let Some(u) = get("unreachableStrategy") {
        if u.as_str() == Some("disabled") {
            inactive = f64::INFINITY;
        } else {
            if let Some(x) = u.get("inactiveAfterSeconds") {
                inactive = num(
                    x,
                    "/unreachableStrategy/inactiveAfterSeconds",
                    &mut errs,
                    0.0,
                )
                .unwrap_or(0.0);
            }
            if let Some(x) = u.get("expungeAfterSeconds") {
                expunge = num(
                    x,
                    "/unreachableStrategy/expungeAfterSeconds",
                    &mut errs,
                    0.0,
                )
                .unwrap_or(0.0);
            }
        }
    }
    let kill_selection = match get("killSelection").and_then(Value::as_str) {
        None => "YOUNGEST_FIRST".to_string(),
        Some(k @ ("YOUNGEST_FIRST" | "OLDEST_FIRST")) => k.to_string(),
        Some(other) => {
            errs.add(
                "/killSelection",
                format!("'{other}' is not one of YOUNGEST_FIRST, OLDEST_FIRST"),
            );
            String::new()
        }
    };

    if !errs.is_empty() {
        return Err(errs.into_vec());
    }
    Ok(App {
        id,
        cmd,
        args,
        user,
        env,
        instances: instances.unwrap_or(1),
        cpus: cpus.unwrap_or(DEFAULT_CPUS),
        mem: mem.unwrap_or(DEFAULT_MEM),
        disk: disk.unwrap_or(0.0),
        gpus: gpus.unwrap_or(0.0) as u32,
        executor,
        constraints,
        uris,
        fetch,
        store_urls,
        port_definitions,
        require_ports,
        backoff_seconds: backoff_seconds.unwrap_or(DEFAULT_BACKOFF_SECONDS),
        backoff_factor: backoff_factor.unwrap_or(DEFAULT_BACKOFF_FACTOR),
        max_launch_delay_seconds: max_launch_delay_seconds
            .unwrap_or(DEFAULT_MAX_LAUNCH_DELAY_SECONDS),
        container,
        health_checks,
        readiness_checks,
        dependencies,
        minimum_health_capacity,
        maximum_over_capacity,
        labels,
        accepted_resource_roles,
        ip_address: get("ipAddress").cloned(),
        task_kill_grace_period_seconds,
        unreachable_inactive_after_seconds: inactive,
        unreachable_expunge_after_seconds: expunge,
        kill_selection,
        secrets: get("secrets").cloned().unwrap_or_else(|| json!({})),
        version: version.to_string(),
        last_scaling_at: version.to_string(),
        last_config_change_at: version.to_string(),
    })
}

fn fetch_entry(uri: &str, f: &Value) -> Value {
    let lower = uri.to_ascii_lowercase();
    let archive = [
        ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip",
    ]
    .iter()
    .any(|s| lower.ends_with(s));
    json!({
        "uri": uri,
        "extract": f.get("extract").and_then(Value::as_bool).unwrap_or(archive),
        "executable": f.get("executable").and_then(Value::as_bool).unwrap_or(false),
        "cache": f.get("cache").and_then(Value::as_bool).unwrap_or(false),
    })
}

fn parse_port_definitions(v: &Value, errs: &mut Errors) -> Vec<PortDefinition> {
    let Some(a) = v.as_array() else {
        errs.add("/portDefinitions", "error.expected.jsarray");
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, p) in a.iter().enumerate() {
        let path = format!("/portDefinitions({i})");
        let port = match p.get("port").map(|x| x.as_u64()) {
            None => 0,
            Some(Some(n)) if n <= 65535 => n as u32,
            Some(_) => {
                errs.add(&format!("{path}/port"), "got a port outside 0-65535");
                continue;
            }
        };
        let protocol = p
            .get("protocol")
            .and_then(Value::as_str)
            .unwrap_or("tcp")
            .to_string();
        if !["tcp", "udp", "udp,tcp", "tcp,udp"].contains(&protocol.as_str()) {
            errs.add(
                &format!("{path}/protocol"),
                format!("'{protocol}' is not tcp, udp or udp,tcp"),
            );
        }
        let labels = p
            .get("labels")
            .map(|l| string_map(l, &format!("{path}/labels"), errs))
            .unwrap_or_default();
        out.push(PortDefinition {
            port,
            protocol,
            name: p.get("name").and_then(Value::as_str).map(str::to_string),
            labels,
        });
    }
    out
}

/// Fills in Marathon's container defaults (`volumes`, docker `privileged`, `parameters`,
/// `forcePullImage`, port mapping `protocol`) and checks the type.
fn normalize_container(c: &Value, errs: &mut Errors) -> Value {
    let mut c = c.clone();
    let Some(o) = c.as_object_mut() else {
        errs.add("/container", "error.expected.jsobject");
        return c;
    };
    let ty = o
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("DOCKER")
        .to_string();
    if ty != "DOCKER" && ty != "MESOS" {
        errs.add("/container/type", format!("'{ty}' is not DOCKER or MESOS"));
    }
    o.insert("type".into(), json!(ty));
    o.entry("volumes").or_insert_with(|| json!([]));
    if let Some(d) = o.get_mut("docker").and_then(Value::as_object_mut) {
        if d.get("image")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            errs.add("/container/docker/image", "error.path.missing");
        }
        d.entry("privileged").or_insert(json!(false));
        d.entry("parameters").or_insert(json!([]));
        d.entry("forcePullImage").or_insert(json!(false));
    } else if ty == "DOCKER" {
        errs.add("/container/docker", "error.path.missing");
    }
    for m in mappings_mut(o) {
        if let Some(mo) = m.as_object_mut() {
            mo.entry("protocol").or_insert(json!("tcp"));
            mo.entry("hostPort").or_insert(json!(0));
            mo.entry("servicePort").or_insert(json!(0));
            if mo.get("containerPort").and_then(Value::as_u64).is_none() {
                mo.insert("containerPort".into(), json!(0));
            }
        }
    }
    c
}

fn mappings_mut(o: &mut Map<String, Value>) -> Vec<&mut Value> {
    let in_docker = o
        .get("docker")
        .and_then(|d| d.get("portMappings"))
        .is_some_and(Value::is_array);
    let list = if in_docker {
        o.get_mut("docker").and_then(|d| d.get_mut("portMappings"))
    } else {
        o.get_mut("portMappings")
    };
    list.and_then(Value::as_array_mut)
        .map(|a| a.iter_mut().collect())
        .unwrap_or_default()
}

/// The container's port mappings (`container.docker.portMappings`, or Marathon 1.5's
/// `container.portMappings`).
pub fn port_mappings(c: &Value) -> Vec<Value> {
    c.pointer("/docker/portMappings")
        .or_else(|| c.get("portMappings"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

impl App {
    /// The service ports (`ports` in Marathon's JSON): the port definitions' ports, or the
    /// docker mappings' service ports.
    pub fn service_ports(&self) -> Vec<u32> {
        if let Some(c) = &self.container {
            let m = port_mappings(c);
            if !m.is_empty() {
                return m
                    .iter()
                    .map(|x| x.get("servicePort").and_then(Value::as_u64).unwrap_or(0) as u32)
                    .collect();
            }
        }
        self.port_definitions.iter().map(|p| p.port).collect()
    }

    /// Gives every service port that is 0 a free one from `pick` (Marathon: 10000-20000).
    pub fn assign_service_ports(&mut self, mut pick: impl FnMut() -> Option<u32>) {
        if let Some(c) = self.container.as_mut().and_then(Value::as_object_mut) {
            let ms = mappings_mut(c);
            if !ms.is_empty() {
                for m in ms {
                    if m.get("servicePort").and_then(Value::as_u64).unwrap_or(0) == 0 {
                        if let Some(p) = pick() {
                            m["servicePort"] = json!(p);
                        }
                    }
                }
                return;
            }
        }
        for p in &mut self.port_definitions {
            if p.port == 0 {
                if let Some(x) = pick() {
                    p.port = x;
                }
            }
        }
    }

    /// Whether a change from `self` to `other` needs new tasks (anything but `instances`,
    /// `version` and `versionInfo`).
    pub fn config_differs(&self, other: &App) -> bool {
        let mut a = self.clone();
        let mut b = other.clone();
        for x in [&mut a, &mut b] {
            x.instances = 0;
            x.version = String::new();
            x.last_scaling_at = String::new();
            x.last_config_change_at = String::new();
        }
        a != b
    }

    /// Marathon 1.x's app JSON: every field it returns, nothing else. The caller adds the
    /// runtime fields (`tasksRunning`, `deployments`, `tasks`...).
    pub fn to_json(&self) -> Value {
        let port_definitions: Vec<Value> = self
            .port_definitions
            .iter()
            .map(|p| {
                let mut o = json!({"port": p.port, "protocol": p.protocol, "labels": p.labels});
                if let Some(n) = &p.name {
                    o["name"] = json!(n);
                }
                o
            })
            .collect();
        let mut o = json!({
            "id": self.id,
            "cmd": self.cmd,
            "args": self.args,
            "user": self.user,
            "env": self.env,
            "instances": self.instances,
            "cpus": self.cpus,
            "mem": self.mem,
            "disk": self.disk,
            "gpus": self.gpus,
            "executor": self.executor,
            "constraints": self.constraints,
            "uris": self.uris,
            "fetch": self.fetch,
            "storeUrls": self.store_urls,
            "backoffSeconds": self.backoff_seconds,
            "backoffFactor": self.backoff_factor,
            "maxLaunchDelaySeconds": self.max_launch_delay_seconds,
            "container": self.container,
            "healthChecks": self.health_checks,
            "readinessChecks": self.readiness_checks,
            "dependencies": self.dependencies,
            "upgradeStrategy": {
                "minimumHealthCapacity": self.minimum_health_capacity,
                "maximumOverCapacity": self.maximum_over_capacity,
            },
            "labels": self.labels,
            "acceptedResourceRoles": self.accepted_resource_roles,
            "ipAddress": self.ip_address,
            "version": self.version,
            "versionInfo": {
                "lastScalingAt": self.last_scaling_at,
                "lastConfigChangeAt": self.last_config_change_at,
            },
            "killSelection": self.kill_selection,
            "requirePorts": self.require_ports,
            "ports": self.service_ports(),
            "portDefinitions": port_definitions,
            "secrets": self.secrets,
        });
        if let Some(g) = self.task_kill_grace_period_seconds {
            o["taskKillGracePeriodSeconds"] = json!(g);
        }
        o["unreachableStrategy"] = if self.unreachable_inactive_after_seconds.is_infinite() {
            json!("disabled")
        } else {
            json!({
                "inactiveAfterSeconds": self.unreachable_inactive_after_seconds,
                "expungeAfterSeconds": self.unreachable_expunge_after_seconds,
            })
        };
        o
    }

    /// Applies a PATCH / partial PUT: `changes` (app JSON fields) over this definition,
    /// then checks the result like a new one.
    pub fn patched(&self, changes: &Value, version: &str) -> Result<App, Vec<ValidationError>> {
        let mut base = self.to_json();
        if let (Some(b), Some(c)) = (base.as_object_mut(), changes.as_object()) {
            for (k, v) in c {
                if k != "id" {
                    b.insert(k.clone(), v.clone());
                }
            }
            // `ports` is derived; a change of `portDefinitions` must not be undone by it.
            if c.contains_key("portDefinitions") || c.contains_key("container") {
                b.remove("ports");
            }
            if c.contains_key("ports") {
                b.remove("portDefinitions");
            }
        }
        let mut app = parse(&base, "/", version)?;
        app.last_scaling_at = self.last_scaling_at.clone();
        app.last_config_change_at = self.last_config_change_at.clone();
        Ok(app)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str = "2026-11-22T10:00:00.000Z";

    #[test]
    fn ids_are_normalised() {
        assert_eq!(normalize_id("nginx", "/").as_deref(), Some("/nginx"));
        assert_eq!(
            normalize_id("/prod/web/", "/").as_deref(),
            Some("/prod/web")
        );
        assert_eq!(
            normalize_id("../db", "/prod/web").as_deref(),
            Some("/prod/db")
        );
        assert_eq!(normalize_id("Nginx", "/"), None);
        assert_eq!(normalize_id("a_b", "/"), None);
        assert_eq!(normalize_id("-a", "/"), None);
        assert!(valid_segment("a.b-c"));
    }

    #[test]
    fn the_seeds_basic_0_gets_marathons_defaults() {
        let v = json!({"id": "basic-0",
            "cmd": "while [ true ] ; do echo 'Hello Marathon' ; sleep 5 ; done",
            "cpus": 0.1, "mem": 10.0, "instances": 1});
        let app = parse(&v, "/", V).unwrap();
        let j = app.to_json();
        assert_eq!(j["id"], "/basic-0");
        assert_eq!(j["disk"], 0.0);
        assert_eq!(j["backoffSeconds"], 1.0);
        assert_eq!(j["backoffFactor"], 1.15);
        assert_eq!(j["maxLaunchDelaySeconds"], 300.0);
        assert_eq!(
            j["upgradeStrategy"],
            json!({"minimumHealthCapacity": 1.0, "maximumOverCapacity": 1.0})
        );
        assert_eq!(j["killSelection"], "YOUNGEST_FIRST");
        assert_eq!(j["ports"], json!([0]));
        assert_eq!(j["portDefinitions"][0]["protocol"], "tcp");
        assert_eq!(j["env"], json!({}));
        assert_eq!(j["container"], Value::Null);
        assert_eq!(j["version"], V);
    }

    #[test]
    fn the_seeds_nginx_json_is_accepted() {
        let v = json!({"id":"nginx","cpus":0.2,"mem":20.0,"instances":1,
            "constraints":[["hostname","UNIQUE",""]],
            "container":{"type":"DOCKER","docker":{"image":"nginx","network":"BRIDGE",
              "portMappings":[{"containerPort":80,"hostPort":0,"servicePort":0,"protocol":"tcp"}]}}});
        let mut app = parse(&v, "/", V).unwrap();
        assert_eq!(app.id, "/nginx");
        assert!(
            app.port_definitions.is_empty(),
            "docker mappings replace the default port"
        );
        let mut next = 10000;
        app.assign_service_ports(|| {
            next += 1;
            Some(next - 1)
        });
        let j = app.to_json();
        assert_eq!(j["ports"], json!([10000]));
        assert_eq!(
            j["container"]["docker"]["portMappings"][0]["servicePort"],
            10000
        );
        assert_eq!(j["container"]["docker"]["privileged"], false);
        assert_eq!(j["container"]["volumes"], json!([]));
        assert_eq!(j["constraints"], json!([["hostname", "UNIQUE", ""]]));
    }

    #[test]
    fn invalid_apps_list_every_problem_with_its_path() {
        let v = json!({"id": "Bad_Id", "cpus": -1, "mem": "lots", "instances": -2,
            "backoffFactor": 0.5, "upgradeStrategy": {"minimumHealthCapacity": 2},
            "killSelection": "RANDOM"});
        let errs = parse(&v, "/", V).unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        for p in [
            "/id",
            "/",
            "/cpus",
            "/mem",
            "/instances",
            "/backoffFactor",
            "/upgradeStrategy/minimumHealthCapacity",
            "/killSelection",
        ] {
            assert!(paths.contains(&p), "{p} missing in {paths:?}");
        }
        let cpus = errs.iter().find(|e| e.path == "/cpus").unwrap();
        assert_eq!(cpus.errors, vec!["got -1, expected 0 or more".to_string()]);
        assert!(parse(&json!({"id": "x", "cmd": "a", "args": ["b"]}), "/", V).is_err());
        assert!(parse(&json!([1]), "/", V).is_err());
    }

    #[test]
    fn config_changes_and_patches() {
        let a = parse(&json!({"id": "a", "cmd": "sleep 1"}), "/", V).unwrap();
        let mut scaled = a.clone();
        scaled.instances = 5;
        assert!(!a.config_differs(&scaled));
        let b = a
            .patched(&json!({"cmd": "sleep 2"}), "2026-11-22T11:00:00.000Z")
            .unwrap();
        assert!(a.config_differs(&b));
        assert_eq!(b.cmd.as_deref(), Some("sleep 2"));
        assert_eq!(b.id, "/a");
        assert!(a.patched(&json!({"cpus": -1}), V).is_err());
    }
}
