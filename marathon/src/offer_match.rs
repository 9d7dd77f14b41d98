//! Matching one app instance's needs against one offer's resources, and several instances
//! against one offer.
//!
//! Sources (mesosphere/marathon, tag v1.10.26): `src/main/scala/mesosphere/mesos/ResourceMatcher.scala`
//! (`matchResources`: scalars whose need is 0 are not matched at all; the GPU scheduling rule)
//! and `src/main/scala/mesosphere/marathon/tasks/PortsMatcher.scala` (`portsWithRoles`).
//!
//! Ports, as PortsMatcher does for an app:
//! - `require_ports == false` (an app's `portDefinitions` with `requirePorts: false`, the
//!   default): the numbers in `ports` are service ports, not host ports; every one of them
//!   gets a dynamically chosen host port (`randomPorts(ports.size)`), whatever its value.
//! - `require_ports == true`: a non-zero port is a fixed host port and must lie inside an
//!   offered range (`findPortsInOffer`); a zero takes any offered port that is not one of the
//!   fixed ones (`mappedPortRanges`). A container's `portMappings` (BRIDGE/USER networking)
//!   behave this way whatever `requirePorts` says, so a caller matching port mappings passes
//!   `require_ports: true` with the mappings' `hostPort`s. (Marathon assigns service ports to
//!   zero `portDefinitions` before it matches, so a zero never reaches its `findPortsInOffer`;
//!   here a zero stays "any port".) The same fixed port twice never matches, since one
//!   instance cannot bind a port twice.
//!
//! Where Marathon picks dynamic ports at random (to keep load balancers from seeing a port
//! reused at once), this module takes the lowest free ones, so the result depends only on the
//! inputs.

use std::collections::BTreeSet;

use mesos::resources::Resources;

/// What one instance needs. Scalars are in Mesos units (cpus, MB, MB, gpus).
#[derive(Debug, Clone, PartialEq)]
pub struct Needs {
    pub cpus: f64,
    pub mem: f64,
    pub disk: f64,
    pub gpus: f64,
    /// One entry per requested host port; 0 = any (see the module comment for how
    /// `require_ports` changes what a non-zero entry means).
    pub ports: Vec<u32>,
    pub require_ports: bool,
}

/// What one instance gets from an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched {
    /// Exactly what goes into the TaskInfo: the non-zero scalars and the chosen host ports as
    /// `ports` ranges.
    pub resources: Resources,
    /// The chosen host ports, one per entry of `Needs::ports`, in the same order.
    pub host_ports: Vec<u32>,
}

const SCALARS: [&str; 4] = ["cpus", "mem", "disk", "gpus"];
const PORTS: &str = "ports";

impl Needs {
    fn scalar_values(&self) -> [f64; 4] {
        [self.cpus, self.mem, self.disk, self.gpus]
    }
}

/// Matches one instance against `offer`: `None` when a scalar does not fit or the ports cannot
/// be had. A negative or non-finite need never matches (the API refuses such apps; this keeps
/// a bad one from yielding negative resources).
pub fn match_offer(needs: &Needs, offer: &Resources) -> Option<Matched> {
    let mut resources = Resources::new();
    for (name, v) in SCALARS.into_iter().zip(needs.scalar_values()) {
        if !v.is_finite() || v < 0.0 {
            return None;
        }
        // A zero need is not matched at all (`.filter(_.requiredValue != 0)`), and
        // `add_scalar` drops it.
        resources.add_scalar(name, v);
    }
    if !offer.contains(&resources) {
        return None;
    }
    let host_ports = choose_ports(needs, offer)?;
    let ranges: Vec<(u64, u64)> = host_ports
        .iter()
        .map(|&p| (u64::from(p), u64::from(p)))
        .collect();
    resources.add_ranges(PORTS, &ranges);
    debug_assert!(offer.contains(&resources));
    Some(Matched {
        resources,
        host_ports,
    })
}

/// The host port for each entry of `needs.ports`, all distinct and all offered.
fn choose_ports(needs: &Needs, offer: &Resources) -> Option<Vec<u32>> {
    let offered = offer.ranges(PORTS);
    let in_offer = |p: u32| {
        offered
            .iter()
            .any(|&(b, e)| b <= u64::from(p) && u64::from(p) <= e)
    };
    let fixed: BTreeSet<u32> = if needs.require_ports {
        let fixed: Vec<u32> = needs.ports.iter().copied().filter(|&p| p != 0).collect();
        let set: BTreeSet<u32> = fixed.iter().copied().collect();
        if set.len() != fixed.len() || !set.iter().all(|&p| in_offer(p)) {
            return None;
        }
        set
    } else {
        BTreeSet::new()
    };
    let wanted_dynamic = needs
        .ports
        .iter()
        .filter(|&&p| p == 0 || !needs.require_ports)
        .count();
    // Offered ranges are sorted and merged, so this walks the free ports in ascending order.
    let mut free = offered
        .iter()
        .flat_map(|&(b, e)| b..=e)
        .map_while(|p| u32::try_from(p).ok())
        .filter(|p| !fixed.contains(p));
    let dynamic: Vec<u32> = free.by_ref().take(wanted_dynamic).collect();
    if dynamic.len() < wanted_dynamic {
        return None;
    }
    let mut dynamic = dynamic.into_iter();
    needs
        .ports
        .iter()
        .map(|&p| {
            if p != 0 && needs.require_ports {
                Some(p)
            } else {
                dynamic.next()
            }
        })
        .collect()
}

/// Matches up to `max_instances` instances against one offer, taking each instance's
/// resources out of the offer before matching the next, so no two share a port and their sum
/// fits in the offer. Stops at the first instance that does not fit (every instance needs the
/// same, so none after it would either).
pub fn match_many(needs: &Needs, offer: &Resources, max_instances: usize) -> Vec<Matched> {
    let mut left = offer.clone();
    let mut out = Vec::new();
    while out.len() < max_instances {
        let Some(m) = match_offer(needs, &left) else {
            break;
        };
        let Some(rest) = left.minus(&m.resources) else {
            debug_assert!(false, "a match must fit in what it was matched against");
            break;
        };
        left = rest;
        out.push(m);
    }
    out
}

/// Marathon's default `--gpu_scheduling_behavior restricted` (ResourceMatcher's
/// `checkGpuSchedulingBehaviour`): an instance that needs no GPU is not placed on an offer with
/// GPUs, to keep scarce GPU agents free for apps that need them. Marathon only sees GPU offers
/// when it registers with the GPU_RESOURCES capability (`--enable_features gpu_resources`);
/// callers that do should decline such offers for non-GPU apps (unless the app's
/// `GPU_SCHEDULING_BEHAVIOR` label is `unrestricted`). `match_offer` itself does not apply this.
pub fn wastes_gpus(needs: &Needs, offer: &Resources) -> bool {
    needs.gpus == 0.0 && offer.scalar("gpus") > 0.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn offer(text: &str) -> Resources {
        Resources::parse(text).unwrap()
    }

    fn needs(cpus: f64, mem: f64, ports: &[u32], require_ports: bool) -> Needs {
        Needs {
            cpus,
            mem,
            disk: 0.0,
            gpus: 0.0,
            ports: ports.to_vec(),
            require_ports,
        }
    }

    #[test]
    fn scalars_must_fit_and_zero_needs_are_left_out() {
        let o = offer("cpus:2;mem:1024;disk:100;ports:[31000-31010]");
        let m = match_offer(&needs(0.5, 128.0, &[], false), &o).unwrap();
        assert_eq!(m.resources, offer("cpus:0.5;mem:128"));
        assert!(m.host_ports.is_empty());
        assert!(match_offer(&needs(2.5, 128.0, &[], false), &o).is_none());
        assert!(match_offer(&needs(1.0, 2048.0, &[], false), &o).is_none());
        let mut n = needs(1.0, 128.0, &[], false);
        n.disk = 101.0;
        assert!(match_offer(&n, &o).is_none());
        n.disk = 100.0;
        assert_eq!(match_offer(&n, &o).unwrap().resources.scalar("disk"), 100.0);
        n.gpus = 1.0;
        assert!(match_offer(&n, &o).is_none());
        let all_zero = needs(0.0, 0.0, &[], false);
        assert!(match_offer(&all_zero, &Resources::new())
            .unwrap()
            .resources
            .is_empty());
        for bad in [-1.0, f64::NAN, f64::INFINITY] {
            assert!(match_offer(&needs(bad, 1.0, &[], false), &o).is_none());
        }
    }

    #[test]
    fn dynamic_ports_are_the_lowest_free_ones() {
        let o = offer("cpus:1;mem:128;ports:[31005-31006,31000-31001]");
        let m = match_offer(&needs(0.1, 32.0, &[0, 0, 0], false), &o).unwrap();
        assert_eq!(m.host_ports, vec![31000, 31001, 31005]);
        assert_eq!(
            m.resources.ranges("ports"),
            &[(31000, 31001), (31005, 31005)]
        );
        assert!(match_offer(&needs(0.1, 32.0, &[0; 5], false), &o).is_none());
        assert!(match_offer(&needs(0.1, 32.0, &[0], false), &offer("cpus:1;mem:128")).is_none());
    }

    #[test]
    fn without_require_ports_the_numbers_are_service_ports() {
        // Marathon assigns host ports dynamically: 80 and 10000 need not be offered.
        let o = offer("cpus:1;mem:128;ports:[31000-31010]");
        let m = match_offer(&needs(0.1, 32.0, &[80, 0, 10000], false), &o).unwrap();
        assert_eq!(m.host_ports, vec![31000, 31001, 31002]);
    }

    #[test]
    fn with_require_ports_fixed_ports_must_be_offered() {
        let o = offer("cpus:1;mem:128;ports:[31000-31010]");
        let m = match_offer(&needs(0.1, 32.0, &[31000, 0, 31005], true), &o).unwrap();
        // The dynamic port skips the fixed ones.
        assert_eq!(m.host_ports, vec![31000, 31001, 31005]);
        assert_eq!(
            m.resources.ranges("ports"),
            &[(31000, 31001), (31005, 31005)]
        );
        let m = match_offer(&needs(0.1, 32.0, &[0, 31000], true), &o).unwrap();
        assert_eq!(m.host_ports, vec![31001, 31000]);
        assert!(match_offer(&needs(0.1, 32.0, &[80], true), &o).is_none());
        assert!(match_offer(&needs(0.1, 32.0, &[31011], true), &o).is_none());
        assert!(match_offer(&needs(0.1, 32.0, &[31003, 31003], true), &o).is_none());
        // Eleven ports offered: ten fixed-or-dynamic fit, twelve do not.
        let mut ten = vec![0; 9];
        ten.push(31010);
        assert!(match_offer(&needs(0.1, 32.0, &ten, true), &o).is_some());
        ten.extend([0, 0]);
        assert!(match_offer(&needs(0.1, 32.0, &ten, true), &o).is_none());
    }

    #[test]
    fn several_instances_from_one_offer_share_nothing() {
        let o = offer("cpus:1;mem:1000;ports:[31000-31004]");
        let ms = match_many(&needs(0.3, 100.0, &[0, 0], false), &o, 10);
        // cpus allow three, ports two.
        assert_eq!(ms.len(), 2);
        assert_eq!(ms[0].host_ports, vec![31000, 31001]);
        assert_eq!(ms[1].host_ports, vec![31002, 31003]);
        let ms = match_many(&needs(0.3, 100.0, &[], false), &o, 10);
        assert_eq!(ms.len(), 3);
        assert_eq!(match_many(&needs(0.3, 100.0, &[], false), &o, 2).len(), 2);
        assert!(match_many(&needs(0.3, 100.0, &[], false), &o, 0).is_empty());
        // A fixed port can serve one instance only.
        let ms = match_many(&needs(0.1, 10.0, &[31002, 0], true), &o, 10);
        assert_eq!(ms.len(), 1);
        assert_eq!(ms[0].host_ports, vec![31002, 31000]);
    }

    #[test]
    fn gpu_agents_are_kept_for_gpu_apps() {
        let gpu = offer("cpus:4;mem:1024;gpus:2");
        let plain = offer("cpus:4;mem:1024");
        let mut n = needs(1.0, 128.0, &[], false);
        assert!(wastes_gpus(&n, &gpu));
        assert!(!wastes_gpus(&n, &plain));
        n.gpus = 1.0;
        assert!(!wastes_gpus(&n, &gpu));
    }

    fn arb_offer() -> impl Strategy<Value = Resources> {
        (
            0u32..4000,
            0u32..4096,
            0u32..100,
            0u32..3,
            proptest::collection::vec((30_990u64..31_030, 0u64..6), 0..4),
        )
            .prop_map(|(c, m, d, g, rs)| {
                let mut r = Resources::new();
                r.add_scalar("cpus", f64::from(c) / 1000.0);
                r.add_scalar("mem", f64::from(m));
                r.add_scalar("disk", f64::from(d));
                r.add_scalar("gpus", f64::from(g));
                let ranges: Vec<(u64, u64)> = rs.into_iter().map(|(b, l)| (b, b + l)).collect();
                r.add_ranges("ports", &ranges);
                r
            })
    }

    fn arb_needs() -> impl Strategy<Value = Needs> {
        (
            0u32..1500,
            0u32..1024,
            0u32..30,
            0u32..2,
            proptest::collection::vec(prop_oneof![Just(0u32), 30_990u32..31_040], 0..5),
            any::<bool>(),
        )
            .prop_map(|(c, m, d, g, ports, require_ports)| Needs {
                cpus: f64::from(c) / 1000.0,
                mem: f64::from(m),
                disk: f64::from(d),
                gpus: f64::from(g),
                ports,
                require_ports,
            })
    }

    fn port_set(r: &Resources) -> BTreeSet<u64> {
        r.ranges("ports").iter().flat_map(|&(b, e)| b..=e).collect()
    }

    /// The dumb model: does one instance fit?
    fn fits(n: &Needs, o: &Resources) -> bool {
        let offered = port_set(o);
        let fixed: Vec<u32> = if n.require_ports {
            n.ports.iter().copied().filter(|&p| p != 0).collect()
        } else {
            Vec::new()
        };
        let fixed_set: BTreeSet<u64> = fixed.iter().map(|&p| u64::from(p)).collect();
        let scalars_fit = o.scalar("cpus") >= n.cpus
            && o.scalar("mem") >= n.mem
            && o.scalar("disk") >= n.disk
            && o.scalar("gpus") >= n.gpus;
        scalars_fit
            && fixed_set.len() == fixed.len()
            && fixed_set.is_subset(&offered)
            && offered.len() - fixed_set.len() >= n.ports.len() - fixed.len()
    }

    proptest! {
        #[test]
        fn matches_are_contained_and_never_overlap(
            o in arb_offer(),
            n in arb_needs(),
            max in 0usize..8,
        ) {
            prop_assert_eq!(match_offer(&n, &o).is_some(), fits(&n, &o));
            let ms = match_many(&n, &o, max);
            prop_assert!(ms.len() <= max);
            let mut total = Resources::new();
            let mut used_ports = BTreeSet::new();
            for m in &ms {
                prop_assert!(o.contains(&m.resources));
                prop_assert_eq!(m.host_ports.len(), n.ports.len());
                let mine: BTreeSet<u64> = m.host_ports.iter().map(|&p| u64::from(p)).collect();
                prop_assert_eq!(mine.len(), m.host_ports.len(), "a port twice in one instance");
                prop_assert_eq!(&port_set(&m.resources), &mine);
                prop_assert!(used_ports.is_disjoint(&mine), "two instances share a port");
                used_ports.extend(mine);
                if n.require_ports {
                    for (want, got) in n.ports.iter().zip(&m.host_ports) {
                        prop_assert!(*want == 0 || want == got);
                    }
                }
                for (name, v) in SCALARS.into_iter().zip(n.scalar_values()) {
                    prop_assert_eq!(m.resources.scalar(name), v);
                }
                total = total.plus(&m.resources);
            }
            prop_assert!(o.contains(&total), "{total} does not fit in {o}");
            // It stops only at the bound or when what is left cannot take another instance.
            if ms.len() < max {
                let left = o.minus(&total).unwrap();
                prop_assert!(match_offer(&n, &left).is_none());
                prop_assert!(!fits(&n, &left));
            }
        }
    }
}
