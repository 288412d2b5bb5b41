//! Typed forms of the enum, mask and size values the runtime reads.
//!
//! The order of each `NAMES` list is the numeric value the original runtime
//! reports for the enum in `GET /config`, so it must not be reordered.

use std::fmt;

macro_rules! name_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $var),+ }

        impl $name {
            /// Accepted spellings, in the original's numeric order.
            pub const NAMES: &'static [&'static str] = &[$($s),+];
            const ALL: &'static [$name] = &[$($name::$var),+];

            /// The configuration spelling.
            pub fn as_str(self) -> &'static str {
                Self::NAMES[self as usize]
            }

            /// Parse a configuration spelling (ASCII case-insensitive).
            pub fn from_name(s: &str) -> Option<Self> {
                Self::NAMES
                    .iter()
                    .position(|n| n.eq_ignore_ascii_case(s))
                    .map(|i| Self::ALL[i])
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

name_enum! {
    /// `PV_BOOTLOADER_TYPE`.
    BootloaderType {
        /// Plain U-Boot with `boot/uboot.txt`.
        Uboot = "uboot",
        /// U-Boot with the pantavisor kernel layout.
        UbootPvk = "uboot-pvk",
        /// GRUB with `boot/grubenv`.
        Grub = "grub",
        /// Raspberry Pi A/B (`autoboot.txt`).
        Rpiab = "rpiab",
        /// U-Boot A/B FIT partitions.
        UbootAb = "uboot-ab",
    }
}

name_enum! {
    /// `PV_SYSTEM_INIT_MODE`.
    InitMode {
        /// PID 1 on a device.
        Embedded = "embedded",
        /// Debug shell only, no state machine.
        Standalone = "standalone",
        /// Host daemon or PID 1 of a container.
        Appengine = "appengine",
    }
}

name_enum! {
    /// `PV_SECUREBOOT_MODE`.
    SecurebootMode {
        /// No signature checks.
        Disabled = "disabled",
        /// Check and log, never refuse.
        Audit = "audit",
        /// Refuse bad signatures, accept unsigned parts.
        Lenient = "lenient",
        /// Everything must be signed.
        Strict = "strict",
    }
}

name_enum! {
    /// `PV_WDT_MODE`.
    WdtMode {
        /// Never ping.
        Disabled = "disabled",
        /// Only during shutdown.
        Shutdown = "shutdown",
        /// During startup and shutdown.
        Startup = "startup",
        /// All the time.
        Always = "always",
    }
}

name_enum! {
    /// `PV_POWER_MODE` (wakelock subsystem).
    PowerMode {
        /// No wakelock handling.
        Disabled = "disabled",
        /// Hold wakelocks while busy.
        Locks = "locks",
        /// Managed autosleep with timed wakes.
        Managed = "managed",
    }
}

name_enum! {
    /// `PV_LOG_TIMESTAMP`.
    LogTimestamp {
        /// Seconds since boot.
        Relative = "relative",
        /// Wall clock.
        Absolute = "absolute",
    }
}

/// `PV_LOG_SERVER_OUTPUTS` as a bit mask (bit values of the original, so the
/// number reported by the control API matches).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LogOutputs(pub u32);

impl LogOutputs {
    pub const NULL_SINK: u32 = 1 << 0;
    pub const SINGLE_FILE: u32 = 1 << 1;
    pub const FILE_TREE: u32 = 1 << 2;
    pub const STDOUT: u32 = 1 << 3;
    pub const STDOUT_CONTAINERS: u32 = 1 << 4;
    pub const STDOUT_PANTAVISOR: u32 = 1 << 5;
    pub const STDOUT_DIRECT: u32 = 1 << 6;
    /// The internal update sink, always on.
    pub const UPDATE: u32 = 1 << 7;

    const TOKENS: [(&'static str, u32); 7] = [
        ("nullsink", Self::NULL_SINK),
        ("singlefile", Self::SINGLE_FILE),
        ("filetree", Self::FILE_TREE),
        ("stdout", Self::STDOUT),
        ("stdout.containers", Self::STDOUT_CONTAINERS),
        ("stdout.pantavisor", Self::STDOUT_PANTAVISOR),
        ("stdout_direct", Self::STDOUT_DIRECT),
    ];

    /// Parse a comma separated list; the update sink is always added.
    /// Returns the first unknown token on error.
    pub fn parse(s: &str) -> Result<LogOutputs, String> {
        let mut mask = Self::UPDATE;
        for token in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let bit = Self::TOKENS
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(token))
                .map(|(_, bit)| *bit)
                .ok_or_else(|| token.to_string())?;
            mask |= bit;
        }
        Ok(LogOutputs(mask))
    }

    /// True if every bit of `bit` is set.
    pub fn has(self, bit: u32) -> bool {
        self.0 & bit == bit
    }

    /// The selected outputs as a comma list (without the update sink).
    pub fn names(self) -> String {
        let names: Vec<&str> = Self::TOKENS
            .iter()
            .filter(|(_, bit)| self.has(*bit))
            .map(|(name, _)| *name)
            .collect();
        names.join(",")
    }
}

/// A size setting such as `PV_LOG_DIR_MAXSIZE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SizeSpec {
    /// `0`: let the runtime decide (10 % of a block device, 100 % of a tmpfs).
    Auto,
    /// An absolute number of bytes.
    Bytes(u64),
    /// A percentage of the filesystem (`N%`, 1..=100).
    Percent(u8),
}

impl SizeSpec {
    /// Parse `N`, `N` + `B|K|KB|M|MB|G|GB|T|TB` (binary multiples, ASCII
    /// case-insensitive) or `N%`.
    pub fn parse(s: &str) -> Option<SizeSpec> {
        let s = s.trim();
        if let Some(pct) = s.strip_suffix('%') {
            let n: u8 = pct.trim().parse().ok()?;
            return match n {
                0 => Some(SizeSpec::Auto),
                1..=100 => Some(SizeSpec::Percent(n)),
                _ => None,
            };
        }
        let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (digits, suffix) = s.split_at(split);
        let n: u64 = digits.parse().ok()?;
        let shift = match suffix.trim().to_ascii_uppercase().as_str() {
            "" | "B" => 0,
            "K" | "KB" => 10,
            "M" | "MB" => 20,
            "G" | "GB" => 30,
            "T" | "TB" => 40,
            _ => return None,
        };
        let bytes = n.checked_mul(1u64 << shift)?;
        Some(if bytes == 0 {
            SizeSpec::Auto
        } else {
            SizeSpec::Bytes(bytes)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip_and_keep_original_numbers() {
        assert_eq!(
            BootloaderType::from_name("UBOOT-AB"),
            Some(BootloaderType::UbootAb)
        );
        assert_eq!(BootloaderType::UbootAb as usize, 4);
        assert_eq!(BootloaderType::Grub as usize, 2);
        assert_eq!(SecurebootMode::Lenient as usize, 2);
        assert_eq!(WdtMode::Shutdown as usize, 1);
        assert_eq!(InitMode::Appengine as usize, 2);
        assert_eq!(InitMode::from_name("nope"), None);
        assert_eq!(PowerMode::Managed.to_string(), "managed");
    }

    #[test]
    fn log_outputs() {
        let o = LogOutputs::parse("filetree").unwrap();
        assert_eq!(o.0, 4 | 128);
        let o = LogOutputs::parse("filetree, stdout_direct,stdout.containers").unwrap();
        assert!(o.has(LogOutputs::STDOUT_DIRECT) && o.has(LogOutputs::STDOUT_CONTAINERS));
        assert!(!o.has(LogOutputs::STDOUT));
        assert_eq!(o.names(), "filetree,stdout.containers,stdout_direct");
        assert_eq!(LogOutputs::parse("").unwrap().0, LogOutputs::UPDATE);
        assert_eq!(
            LogOutputs::parse("filetree,bogus"),
            Err("bogus".to_string())
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(SizeSpec::parse("0"), Some(SizeSpec::Auto));
        assert_eq!(
            SizeSpec::parse("2147483647"),
            Some(SizeSpec::Bytes(2147483647))
        );
        assert_eq!(SizeSpec::parse("16K"), Some(SizeSpec::Bytes(16384)));
        assert_eq!(SizeSpec::parse("2mb"), Some(SizeSpec::Bytes(2 << 20)));
        assert_eq!(SizeSpec::parse("1GB"), Some(SizeSpec::Bytes(1 << 30)));
        assert_eq!(SizeSpec::parse("1T"), Some(SizeSpec::Bytes(1 << 40)));
        assert_eq!(SizeSpec::parse("512B"), Some(SizeSpec::Bytes(512)));
        assert_eq!(SizeSpec::parse("10%"), Some(SizeSpec::Percent(10)));
        assert_eq!(SizeSpec::parse("101%"), None);
        assert_eq!(SizeSpec::parse("12Q"), None);
        assert_eq!(SizeSpec::parse("K"), None);
        assert_eq!(SizeSpec::parse("-1"), None);
        assert_eq!(SizeSpec::parse("99999999999999T"), None);
    }
}
