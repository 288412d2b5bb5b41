//! The two JSON views of the configuration served by the control socket.

use crate::config::Config;

impl Config {
    /// `GET /config`: an object keyed by each key's legacy alias (keys
    /// without an alias are left out), values typed: booleans as JSON
    /// booleans, integers, durations (seconds), enums (their index) and
    /// log outputs (their bit mask) as numbers, strings as strings or
    /// `null` when unset.
    pub fn to_legacy_json(&self) -> String {
        let mut out = String::from("{");
        let mut first = true;
        for (def, value, _) in self.entries() {
            let Some(alias) = def.primary_alias() else {
                continue;
            };
            if !first {
                out.push(',');
            }
            first = false;
            pv_json::write_quoted(&mut out, alias);
            out.push(':');
            value.write_json(&mut out);
        }
        out.push('}');
        out
    }

    /// `GET /config2`: an array of `{"key","value","modified"}` objects, one
    /// per key in table order, value always a string and `modified` the
    /// name of the level that set it.
    pub fn to_complete_json(&self) -> String {
        let mut out = String::from("[");
        for (i, (def, value, level)) in self.entries().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"key\":");
            pv_json::write_quoted(&mut out, def.name);
            out.push_str(",\"value\":");
            pv_json::write_quoted(&mut out, &value.display_string());
            out.push_str(",\"modified\":");
            pv_json::write_quoted(&mut out, level.as_str());
            out.push('}');
        }
        out.push(']');
        out
    }
}
