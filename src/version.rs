//! The library's version, as aiozmq's `aiozmq.version` and `aiozmq.version_info`.

use crate::{Error, Result};
use std::fmt;

/// The crate's version string (`CARGO_PKG_VERSION`, e.g. `"0.1.0"`), aiozmq's
/// `aiozmq.__version__`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// A release level, ordered as Python's `sys.version_info.releaselevel`:
/// alpha < beta < candidate < final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReleaseLevel {
    /// `alpha` (`1.0.0-alpha.1`, `1.0.0a1`).
    Alpha,
    /// `beta` (`1.0.0-beta.2`, `1.0.0b2`).
    Beta,
    /// `candidate` (`1.0.0-rc.1`, `1.0.0c1`).
    Candidate,
    /// `final`: a release without a pre-release part.
    Final,
}

impl ReleaseLevel {
    /// The name aiozmq uses: `"alpha"`, `"beta"`, `"candidate"` or `"final"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseLevel::Alpha => "alpha",
            ReleaseLevel::Beta => "beta",
            ReleaseLevel::Candidate => "candidate",
            ReleaseLevel::Final => "final",
        }
    }
}

impl fmt::Display for ReleaseLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// aiozmq's `VersionInfo(major, minor, micro, releaselevel, serial)` named tuple; compares
/// field by field like Python's `sys.version_info`.
///
/// ```
/// let v = aiozmq::version_info();
/// assert_eq!(v.to_string().split('.').next().unwrap(), v.major.to_string());
/// assert!(v >= aiozmq::VersionInfo::parse("0.1.0-alpha.1").unwrap());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VersionInfo {
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Micro (patch) version.
    pub micro: u32,
    /// Release level.
    pub releaselevel: ReleaseLevel,
    /// Pre-release number (0 for final releases).
    pub serial: u32,
}

impl VersionInfo {
    /// Parses a version: `MAJOR.MINOR.MICRO`, optionally followed by a pre-release in
    /// SemVer form (`-alpha.1`, `-beta.2`, `-rc.3`) or in aiozmq's PEP 440 form (`a1`,
    /// `b2`, `c3`, `rc3`). Anything else: `EINVAL`.
    pub fn parse(version: &str) -> Result<VersionInfo> {
        let bad = || Error::inval(format!("invalid version: {version:?}"));
        let (release, pre) = match version.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
            Some(i) => (&version[..i], Some(&version[i..])),
            None => (version, None),
        };
        let mut parts = release.split('.');
        let mut number = || -> Result<u32> {
            parts
                .next()
                .filter(|p| !p.is_empty())
                .and_then(|p| p.parse().ok())
                .ok_or_else(bad)
        };
        let (major, minor, micro) = (number()?, number()?, number()?);
        if parts.next().is_some() {
            return Err(bad());
        }
        let (releaselevel, serial) = match pre {
            None => (ReleaseLevel::Final, 0),
            Some(pre) => {
                let pre = pre.strip_prefix('-').unwrap_or(pre);
                let split = pre.find(|c: char| c.is_ascii_digit()).unwrap_or(pre.len());
                let (name, num) = pre.split_at(split);
                let level = match name.trim_end_matches('.') {
                    "a" | "alpha" => ReleaseLevel::Alpha,
                    "b" | "beta" => ReleaseLevel::Beta,
                    "c" | "rc" | "candidate" => ReleaseLevel::Candidate,
                    _ => return Err(bad()),
                };
                let serial = if num.is_empty() {
                    0
                } else {
                    num.parse().map_err(|_| bad())?
                };
                (level, serial)
            }
        };
        Ok(VersionInfo {
            major,
            minor,
            micro,
            releaselevel,
            serial,
        })
    }
}

impl fmt::Display for VersionInfo {
    /// `MAJOR.MINOR.MICRO`, plus `-LEVEL.SERIAL` for pre-releases.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)?;
        if self.releaselevel != ReleaseLevel::Final {
            write!(f, "-{}.{}", self.releaselevel, self.serial)?;
        }
        Ok(())
    }
}

/// The crate's version as a [`VersionInfo`] (aiozmq's `aiozmq.version_info`).
pub fn version_info() -> VersionInfo {
    // Cargo guarantees a SemVer version; the fallback keeps this panic-free regardless.
    VersionInfo::parse(VERSION).unwrap_or(VersionInfo {
        major: 0,
        minor: 0,
        micro: 0,
        releaselevel: ReleaseLevel::Final,
        serial: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_semver_and_pep440() {
        let v = VersionInfo::parse("1.2.3").unwrap();
        assert_eq!(
            (v.major, v.minor, v.micro, v.releaselevel, v.serial),
            (1, 2, 3, ReleaseLevel::Final, 0)
        );
        let v = VersionInfo::parse("0.9.0-beta.2").unwrap();
        assert_eq!((v.releaselevel, v.serial), (ReleaseLevel::Beta, 2));
        let v = VersionInfo::parse("1.0.0rc1").unwrap();
        assert_eq!((v.releaselevel, v.serial), (ReleaseLevel::Candidate, 1));
        let v = VersionInfo::parse("1.0.0a3").unwrap();
        assert_eq!((v.releaselevel, v.serial), (ReleaseLevel::Alpha, 3));
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "1.x.3",
            "1.2.3-gamma",
            "1.2.3-rc.x",
        ] {
            assert!(VersionInfo::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn orders_like_sys_version_info() {
        let p = |s| VersionInfo::parse(s).unwrap();
        assert!(p("1.0.0-alpha.1") < p("1.0.0-beta.1"));
        assert!(p("1.0.0-beta.1") < p("1.0.0-rc.1"));
        assert!(p("1.0.0-rc.1") < p("1.0.0"));
        assert!(p("1.0.0") < p("1.0.1"));
        assert_eq!(p("1.0.0-rc.2").to_string(), "1.0.0-candidate.2");
    }

    #[test]
    fn crate_version_parses() {
        let v = version_info();
        assert_eq!(
            format!("{}.{}.{}", v.major, v.minor, v.micro),
            VERSION.split('-').next().unwrap()
        );
    }
}
