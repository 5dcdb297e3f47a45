//! The net effect of consecutive batches, to bring a copy of the data forward without
//! loading it into a store: a copy read while it changed (Redis), or the node's local copy
//! and its journal.

use std::collections::{HashMap, HashSet};

use crate::feed::{Batch, Change, HostRecords, ZoneData, ZoneSnapshot};

/// What the batches did, per zone: every change replaces a name's whole state, so only the
/// last one of each name matters.
#[derive(Debug, Default)]
pub struct Squashed {
    zones: HashMap<String, ZoneNet>,
}

#[derive(Debug, Default)]
struct ZoneNet {
    /// The zone was deleted: its hosts from before are gone.
    reset: bool,
    /// `Some(None)`: deleted (and not created again); `Some(Some)`: its new apex data.
    data: Option<Option<ZoneData>>,
    /// Hosts changed since the last reset: `None` deleted.
    hosts: HashMap<String, Option<HostRecords>>,
}

impl Squashed {
    pub fn new<'a>(batches: impl IntoIterator<Item = &'a Batch>) -> Self {
        let mut squashed = Self::default();
        for batch in batches {
            squashed.add(batch);
        }
        squashed
    }

    pub fn add(&mut self, batch: &Batch) {
        for change in &batch.changes {
            match change {
                Change::ZoneUpsert(data) => {
                    self.zone(&data.name).data = Some(Some(data.clone()));
                }
                Change::ZoneDelete { zone } => {
                    *self.zone(zone) = ZoneNet {
                        reset: true,
                        data: Some(None),
                        hosts: HashMap::new(),
                    };
                }
                Change::HostUpsert { zone, host } => {
                    let hosts = &mut self.zone(zone).hosts;
                    hosts.insert(host.name.clone(), Some(host.clone()));
                }
                Change::HostDelete { zone, name } => {
                    self.zone(zone).hosts.insert(name.clone(), None);
                }
            }
        }
    }

    fn zone(&mut self, name: &str) -> &mut ZoneNet {
        self.zones.entry(name.to_owned()).or_default()
    }

    /// A zone of the old copy as it is now: `None` if it was deleted.
    pub fn zone_data(&self, old: ZoneData) -> Option<ZoneData> {
        match self.zones.get(&old.name).and_then(|z| z.data.clone()) {
            None => Some(old),
            Some(now) => now,
        }
    }

    /// Whether a host of the old copy is still there, unchanged.
    pub fn keeps_host(&self, zone: &str, name: &str) -> bool {
        self.zones
            .get(zone)
            .is_none_or(|z| !z.reset && !z.hosts.contains_key(name))
    }

    /// Hosts of `zone` that the batches created or replaced.
    pub fn new_hosts<'a>(&'a self, zone: &str) -> impl Iterator<Item = &'a HostRecords> {
        self.zones
            .get(zone)
            .into_iter()
            .flat_map(|z| z.hosts.values().flatten())
    }

    /// Zones the batches created that `existing` does not have.
    pub fn new_zones<'a>(
        &'a self,
        existing: &'a HashSet<String>,
    ) -> impl Iterator<Item = &'a ZoneData> {
        self.zones
            .iter()
            .filter(|(name, _)| !existing.contains(*name))
            .filter_map(|(_, z)| z.data.as_ref()?.as_ref())
    }

    /// Brings zones held in memory forward.
    pub fn apply(&self, zones: Vec<ZoneSnapshot>) -> Vec<ZoneSnapshot> {
        let existing: HashSet<String> = zones.iter().map(|z| z.zone.name.clone()).collect();
        let mut out: Vec<ZoneSnapshot> = zones
            .into_iter()
            .filter_map(|mut zs| {
                let name = zs.zone.name.clone();
                zs.zone = self.zone_data(zs.zone)?;
                zs.hosts.retain(|h| self.keeps_host(&name, &h.name));
                zs.hosts.extend(self.new_hosts(&name).cloned());
                Some(zs)
            })
            .collect();
        out.extend(self.new_zones(&existing).map(|zone| ZoneSnapshot {
            zone: zone.clone(),
            hosts: self.new_hosts(&zone.name).cloned().collect(),
        }));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures;

    fn zone(name: &str, ttl: u32) -> ZoneData {
        ZoneData {
            ttl,
            ..fixtures::zone_data(name)
        }
    }

    fn host(name: &str, ttl: u32) -> HostRecords {
        HostRecords {
            ttl,
            ..fixtures::host(name, [192, 0, 2, 1])
        }
    }

    fn upsert(zone: &str, name: &str, ttl: u32) -> Change {
        Change::HostUpsert {
            zone: zone.into(),
            host: host(name, ttl),
        }
    }

    fn names(zs: &ZoneSnapshot) -> Vec<(String, u32)> {
        let mut v: Vec<_> = zs.hosts.iter().map(|h| (h.name.clone(), h.ttl)).collect();
        v.sort();
        v
    }

    #[test]
    fn the_last_change_of_each_name_wins() {
        let batches = [
            Batch {
                revision: 5,
                changes: vec![
                    upsert("a.test", "x.a.test", 1),
                    upsert("a.test", "y.a.test", 1),
                ],
            },
            Batch {
                revision: 6,
                changes: vec![
                    upsert("a.test", "x.a.test", 2),
                    Change::HostDelete {
                        zone: "a.test".into(),
                        name: "old.a.test".into(),
                    },
                    Change::ZoneUpsert(zone("b.test", 7)),
                    upsert("b.test", "h.b.test", 3),
                ],
            },
        ];
        let squashed = Squashed::new(&batches);
        let old = vec![ZoneSnapshot {
            zone: zone("a.test", 1),
            hosts: vec![
                host("old.a.test", 1),
                host("kept.a.test", 1),
                host("x.a.test", 9),
            ],
        }];
        let mut now = squashed.apply(old);
        now.sort_by(|a, b| a.zone.name.cmp(&b.zone.name));
        assert_eq!(
            names(&now[0]),
            [
                ("kept.a.test".into(), 1),
                ("x.a.test".into(), 2),
                ("y.a.test".into(), 1)
            ]
        );
        assert_eq!(now[1].zone, zone("b.test", 7));
        assert_eq!(names(&now[1]), [("h.b.test".into(), 3)]);
    }

    #[test]
    fn a_deleted_zone_loses_its_old_hosts_even_if_created_again() {
        let batches = [Batch {
            revision: 2,
            changes: vec![
                Change::ZoneDelete {
                    zone: "a.test".into(),
                },
                Change::ZoneUpsert(zone("a.test", 3)),
                upsert("a.test", "new.a.test", 1),
            ],
        }];
        let old = vec![
            ZoneSnapshot {
                zone: zone("a.test", 1),
                hosts: vec![host("old.a.test", 1)],
            },
            ZoneSnapshot {
                zone: zone("c.test", 1),
                hosts: vec![host("c1.c.test", 1)],
            },
        ];
        let mut now = Squashed::new(&batches).apply(old);
        now.sort_by(|a, b| a.zone.name.cmp(&b.zone.name));
        assert_eq!(now[0].zone.ttl, 3);
        assert_eq!(names(&now[0]), [("new.a.test".into(), 1)]);
        assert_eq!(names(&now[1]), [("c1.c.test".into(), 1)]);

        let gone = Squashed::new(&[Batch {
            revision: 3,
            changes: vec![Change::ZoneDelete {
                zone: "c.test".into(),
            }],
        }])
        .apply(now);
        assert_eq!(gone.len(), 1);
    }
}
