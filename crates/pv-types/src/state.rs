use serde_json::{Map, Value};

use crate::{is_sha, ObjectId};

/// The current top-level format.
pub const SPEC_SERVICE_SYSTEM: &str = "pantavisor-service-system@1";
/// The legacy top-level format (read-only support).
pub const SPEC_MULTI_PLATFORM: &str = "pantavisor-multi-platform@1";

/// A state that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state is not valid JSON: {0}")]
    Json(#[from] pv_json::ParseError),
    #[error("state must be a JSON object")]
    NotAnObject,
}

/// One revision: a map from relative path to object id or inline JSON.
/// Keys are kept sorted; unknown keys and values are kept as they are.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct State {
    map: Map<String, Value>,
}

impl State {
    /// An empty state with only `#spec`.
    pub fn new(spec: &str) -> Self {
        let mut map = Map::new();
        map.insert("#spec".into(), Value::String(spec.into()));
        State { map }
    }

    /// A state from a JSON object.
    pub fn from_map(map: Map<String, Value>) -> Self {
        State { map }
    }

    /// Parse state JSON text.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, StateError> {
        match pv_json::parse(bytes)? {
            Value::Object(map) => Ok(State { map }),
            _ => Err(StateError::NotAnObject),
        }
    }

    /// The canonical bytes; their sha256 is the revision's `state-sha`.
    pub fn to_canonical(&self) -> Vec<u8> {
        pv_json::to_canonical(&Value::Object(self.map.clone()))
    }

    /// sha256 of the canonical bytes.
    pub fn sha(&self) -> ObjectId {
        ObjectId::of(&self.to_canonical())
    }

    /// The `#spec` value, if it is a string.
    pub fn spec(&self) -> Option<&str> {
        self.map.get("#spec").and_then(Value::as_str)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    pub fn insert(&mut self, key: impl Into<String>, v: Value) -> Option<Value> {
        self.map.insert(key.into(), v)
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.map.iter()
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.map.keys()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn as_map(&self) -> &Map<String, Value> {
        &self.map
    }

    pub fn as_map_mut(&mut self) -> &mut Map<String, Value> {
        &mut self.map
    }

    pub fn into_map(self) -> Map<String, Value> {
        self.map
    }

    /// True if `key`'s value is the inline content of a `.json` file (as
    /// opposed to an object reference).
    pub fn is_inline_json(key: &str, value: &Value) -> bool {
        key.ends_with(".json") && !value.as_str().is_some_and(is_sha)
    }

    /// Every key whose value references an object, with that object's id.
    /// Values that are not well-formed ids are skipped ([`State::validate`]
    /// reports them).
    pub fn objects(&self) -> Vec<(&str, ObjectId)> {
        self.map
            .iter()
            .filter(|(k, v)| *k != "#spec" && !Self::is_inline_json(k, v))
            .filter_map(|(k, v)| {
                let id = v.as_str()?.to_ascii_lowercase().parse().ok()?;
                Some((k.as_str(), id))
            })
            .collect()
    }

    /// The distinct object ids referenced by this state, sorted.
    pub fn object_ids(&self) -> Vec<ObjectId> {
        let mut ids: Vec<ObjectId> = self.objects().into_iter().map(|(_, id)| id).collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// The keys of the given parts: a key is in part `p` if it equals `p` or
    /// lies under `p/`. `#spec` is always kept.
    pub fn filter_parts<S: AsRef<str>>(&self, parts: &[S]) -> State {
        let map = self
            .map
            .iter()
            .filter(|(k, _)| *k == "#spec" || parts.iter().any(|p| in_part(k, p.as_ref())))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        State { map }
    }
}

/// True if `key` is `part` itself or lies under `part/`.
pub fn in_part(key: &str, part: &str) -> bool {
    let part = part.trim_end_matches('/');
    key == part || (key.starts_with(part) && key.as_bytes().get(part.len()) == Some(&b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_vector_state_sha() {
        let s = State::from_slice(
            br##"{"bsp/run.json":{"linux":"kernel.img","initrd":"pantavisor"},"#spec":"pantavisor-service-system@1"}"##,
        )
        .unwrap();
        assert_eq!(
            s.sha().to_hex(),
            "1f86175565816154fe5591e2184b10b5e99e89d2797de0b63c7175fc80e34059"
        );
    }

    #[test]
    fn objects_and_inline_json() {
        let sha = ObjectId::of(b"x").to_hex();
        let s = State::from_slice(
            format!(r##"{{"#spec":"x","a.bin":"{sha}","raw.json":"{sha}","in.json":{{"k":1}}}}"##)
                .as_bytes(),
        )
        .unwrap();
        let keys: Vec<_> = s.objects().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a.bin", "raw.json"]);
        assert_eq!(s.object_ids().len(), 1);
    }

    #[test]
    fn parts_match_whole_segments() {
        let s = State::from_slice(br##"{"#spec":"x","bsp/a":"1","bspx/b":"2","bsp":"3","c":"4"}"##)
            .unwrap();
        let f = s.filter_parts(&["bsp"]);
        let keys: Vec<_> = f.keys().cloned().collect();
        assert_eq!(keys, ["#spec", "bsp", "bsp/a"]);
    }
}
