//! An ordered set of bootloader environment variables.

/// Last committed revision (the rollback point).
pub const PV_REV: &str = "pv_rev";
/// Candidate revision being tried.
pub const PV_TRY: &str = "pv_try";
/// Marker: the revision in `pv_try` has been attempted once.
pub const PV_TRYING: &str = "pv_trying";

/// Bootloader variables in file order. Unknown variables are kept, so a
/// rewrite by Pantavisor never loses what the bootloader or a user stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvVars(Vec<(String, String)>);

impl EnvVars {
    /// No variables.
    pub fn new() -> EnvVars {
        EnvVars::default()
    }

    /// From pairs; a repeated name keeps its first position and last value.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> EnvVars {
        let mut vars = EnvVars::new();
        for (k, v) in pairs {
            vars.set(k, v);
        }
        vars
    }

    /// The value of `name`, if set (possibly empty).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name` if set and not empty (an empty variable means
    /// unset to U-Boot and to the appengine wrapper).
    pub fn get_nonempty(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// Set `name`, in place if present, appended otherwise.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let (name, value) = (name.into(), value.into());
        match self.0.iter_mut().find(|(k, _)| *k == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }

    /// Remove `name`; true if it was present.
    pub fn unset(&mut self, name: &str) -> bool {
        let before = self.0.len();
        self.0.retain(|(k, _)| k != name);
        self.0.len() != before
    }

    /// Number of variables.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True if there are no variables.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Variables in file order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Variables in the order the encoders write them: `pv_rev`, then
    /// `pv_try`, then the rest in file order. The original appengine
    /// wrapper splits the file on `pv_rev=`/`pv_try=` and relies on that
    /// order.
    pub fn write_order(&self) -> impl Iterator<Item = (&str, &str)> {
        let rank = |k: &str| match k {
            PV_REV => 0,
            PV_TRY => 1,
            _ => 2,
        };
        let mut v: Vec<(&str, &str)> = self.iter().collect();
        v.sort_by_key(|(k, _)| rank(k));
        v.into_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_set() {
        let mut v = EnvVars::from_pairs([("a", "1"), ("pv_try", "2"), ("a", "3"), ("pv_rev", "0")]);
        assert_eq!(v.len(), 3);
        assert_eq!(v.get("a"), Some("3"));
        let order: Vec<&str> = v.write_order().map(|(k, _)| k).collect();
        assert_eq!(order, ["pv_rev", "pv_try", "a"]);
        v.set(PV_TRY, "");
        assert_eq!(v.get(PV_TRY), Some(""));
        assert_eq!(v.get_nonempty(PV_TRY), None);
        assert!(v.unset("a") && !v.unset("a"));
    }
}
