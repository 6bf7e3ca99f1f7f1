//! Who a caller is and what it may do, from the `permissions` claim of its token:
//! `namespace:role` entries, as Temporal's default claim mapper reads them.

use std::collections::HashMap;

use super::access::Access;

/// The namespace names whose roles hold in every namespace and on the cluster: Temporal's
/// own (`temporal-system`), and the shorter `system`.
const SYSTEM_NAMESPACES: [&str; 2] = ["temporal-system", "system"];

/// A set of roles.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Roles(u8);

impl Roles {
    pub const WORKER: Self = Self(1);
    pub const READ: Self = Self(2);
    pub const WRITE: Self = Self(4);
    pub const ADMIN: Self = Self(8);

    /// The role a permission names (case does not matter); unknown roles give none.
    pub fn parse(role: &str) -> Self {
        match role.to_ascii_lowercase().as_str() {
            "worker" => Self::WORKER,
            "read" => Self::READ,
            "write" => Self::WRITE,
            "admin" => Self::ADMIN,
            _ => Self::default(),
        }
    }

    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    fn has(self, role: Self) -> bool {
        self.0 & role.0 != 0
    }

    /// Whether these roles allow a call of `access`. Each role allows what the weaker ones
    /// do (admin ⊃ write ⊃ read), and `worker` allows working and the reads workers make.
    pub fn allow(self, access: Access) -> bool {
        let admin = self.has(Self::ADMIN);
        let write = admin || self.has(Self::WRITE);
        let read = write || self.has(Self::READ);
        let worker = write || self.has(Self::WORKER);
        match access {
            Access::WorkerRead => read || worker,
            Access::Read => read,
            Access::Work => worker,
            Access::Write => write,
            Access::Admin => admin,
        }
    }
}

/// What a verified token grants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    pub subject: String,
    /// Roles in every namespace and on the cluster.
    pub system: Roles,
    /// Roles by namespace name (names are case-sensitive).
    pub namespaces: HashMap<String, Roles>,
}

impl Claims {
    /// Reads `namespace:role` entries; entries that are not strings, have no `:` or name an
    /// unknown role grant nothing.
    pub fn from_permissions(subject: String, permissions: Option<&serde_json::Value>) -> Self {
        let mut claims = Self {
            subject,
            ..Self::default()
        };
        let entries = permissions
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(serde_json::Value::as_str);
        for entry in entries {
            let Some((namespace, role)) = entry.split_once(':') else {
                continue;
            };
            let role = Roles::parse(role);
            if SYSTEM_NAMESPACES.contains(&namespace) {
                claims.system = claims.system.union(role);
            } else {
                let held = claims.namespaces.entry(namespace.to_string()).or_default();
                *held = held.union(role);
            }
        }
        claims
    }

    /// The roles that hold in `namespace` (`None`: on the cluster).
    pub fn roles_in(&self, namespace: Option<&str>) -> Roles {
        let local = namespace
            .and_then(|namespace| self.namespaces.get(namespace))
            .copied()
            .unwrap_or_default();
        self.system.union(local)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(permissions: &[&str]) -> Claims {
        Claims::from_permissions("someone".into(), Some(&serde_json::json!(permissions)))
    }

    #[test]
    fn roles_hold_in_their_namespace_and_system_roles_everywhere() {
        let c = claims(&[
            "orders:write",
            "billing:READ",
            "temporal-system:read",
            "bad",
            "x:owner",
        ]);
        assert!(c.roles_in(Some("orders")).allow(Access::Write));
        assert!(!c.roles_in(Some("billing")).allow(Access::Write));
        assert!(c.roles_in(Some("billing")).allow(Access::Read));
        assert!(
            c.roles_in(Some("elsewhere")).allow(Access::Read),
            "system read"
        );
        assert!(!c.roles_in(None).allow(Access::Admin));
        assert_eq!(
            c.namespaces.get("x"),
            Some(&Roles::default()),
            "no such role"
        );
        assert!(
            claims(&["system:admin"])
                .roles_in(None)
                .allow(Access::Admin)
        );
        assert!(
            !claims(&["Temporal-system:admin"])
                .roles_in(None)
                .allow(Access::Admin)
        );
    }

    #[test]
    fn a_worker_works_and_reads_what_workers_read_but_neither_writes_nor_lists() {
        let worker = claims(&["orders:worker"]).roles_in(Some("orders"));
        assert!(worker.allow(Access::Work));
        assert!(worker.allow(Access::WorkerRead));
        assert!(!worker.allow(Access::Read));
        assert!(!worker.allow(Access::Write));
        let reader = claims(&["orders:read"]).roles_in(Some("orders"));
        assert!(!reader.allow(Access::Work));
        assert!(reader.allow(Access::WorkerRead));
        let writer = claims(&["orders:write"]).roles_in(Some("orders"));
        assert!(writer.allow(Access::Work) && writer.allow(Access::Read));
        assert!(!writer.allow(Access::Admin));
    }

    #[test]
    fn a_permissions_claim_that_is_not_a_list_grants_nothing() {
        let c = Claims::from_permissions("s".into(), Some(&serde_json::json!("default:admin")));
        assert_eq!(c.roles_in(Some("default")), Roles::default());
        assert_eq!(
            Claims::from_permissions("s".into(), None).system,
            Roles::default()
        );
    }
}
