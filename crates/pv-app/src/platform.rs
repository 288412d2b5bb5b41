//! Picking one image from a manifest list / OCI index.
//!
//! Like pvr: walk the list in *its* order and take the first entry whose
//! architecture equals the second component (and, when given, whose variant
//! equals the third component) of any configured platform string; the OS
//! is not compared. Without configured platforms, or when none matches, a
//! registry answers a client that does not understand lists with its
//! `linux/amd64` image, so that is the fallback (then the first entry that
//! is not an attestation).

use pv_types::State;

/// One entry of a list, as far as selection cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

/// The platforms to look for: `--platform`, else the `platforms` of
/// `_hostconfig/pvr/docker.json` in the pristine state.
pub fn configured_platforms(flag: Option<&str>, pristine: &State) -> Vec<String> {
    if let Some(p) = flag.filter(|p| !p.is_empty()) {
        return vec![p.to_string()];
    }
    pristine
        .get("_hostconfig/pvr/docker.json")
        .and_then(|v| v.get("platforms"))
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|p| p.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The index of the chosen entry, and the configured platform string that
/// matched it (`None` for the fallback choice).
pub fn select(cands: &[Candidate], platforms: &[String]) -> Option<(usize, Option<String>)> {
    for (i, c) in cands.iter().enumerate() {
        for p in platforms {
            let parts: Vec<&str> = p.split('/').collect();
            let Some(arch) = parts.get(1) else { continue };
            if c.arch != *arch {
                continue;
            }
            if let Some(v) = parts.get(2) {
                if c.variant.as_deref() != Some(*v) {
                    continue;
                }
            }
            return Some((i, Some(p.clone())));
        }
    }
    let real = |c: &Candidate| c.os != "unknown" && c.arch != "unknown";
    cands
        .iter()
        .position(|c| c.os == "linux" && c.arch == "amd64")
        .or_else(|| cands.iter().position(real))
        .or(if cands.is_empty() { None } else { Some(0) })
        .map(|i| (i, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(arch: &str, variant: Option<&str>) -> Candidate {
        Candidate {
            os: "linux".into(),
            arch: arch.into(),
            variant: variant.map(String::from),
        }
    }

    #[test]
    fn list_order_wins_and_variant_is_compared() {
        let cands = [
            c("amd64", None),
            c("arm", Some("v7")),
            c("arm", Some("v6")),
            c("arm64", Some("v8")),
        ];
        let p = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            select(&cands, &p(&["linux/arm/v6"])),
            Some((2, Some("linux/arm/v6".into())))
        );
        // list order, not platform order
        assert_eq!(
            select(&cands, &p(&["linux/arm64", "linux/arm"])),
            Some((1, Some("linux/arm".into())))
        );
        assert_eq!(select(&cands, &p(&["linux/riscv64"])), Some((0, None)));
        assert_eq!(select(&cands[1..], &[]), Some((0, None)));
    }

    #[test]
    fn platforms_from_hostconfig() {
        let st = State::from_slice(
            br##"{"#spec":"x","_hostconfig/pvr/docker.json":{"platforms":["linux/arm","linux/arm/v6"]}}"##,
        )
        .unwrap();
        assert_eq!(
            configured_platforms(None, &st),
            ["linux/arm", "linux/arm/v6"]
        );
        assert_eq!(
            configured_platforms(Some("linux/arm64"), &st),
            ["linux/arm64"]
        );
    }
}
