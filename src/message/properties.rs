//! What a connection says about itself, as messages carry it: the security mechanism and
//! the READY metadata. Plain data here; their wire forms live in `zmtp`.

use bytes::Bytes;
use std::fmt;

/// A security mechanism named in the greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mechanism {
    /// No security (RFC 23).
    #[default]
    Null,
    /// Clear-text user name and password (RFC 24).
    Plain,
    /// CurveZMQ (RFC 26).
    Curve,
}

impl Mechanism {
    /// The ASCII name, as it stands in the greeting.
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::Null => "NULL",
            Mechanism::Plain => "PLAIN",
            Mechanism::Curve => "CURVE",
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Metadata properties, as carried by READY: ordered name/value pairs. Names are
/// case-insensitive on lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    props: Vec<(String, Bytes)>,
}

impl Metadata {
    /// No properties.
    pub fn new() -> Self {
        Metadata::default()
    }

    /// Pairs in order, as decoded.
    pub(crate) fn from_pairs(props: Vec<(String, Bytes)>) -> Self {
        Metadata { props }
    }

    /// Adds a property. Names must follow the RFC's rules (see
    /// [`valid_name`](crate::zmtp::command::valid_name)) and values
    /// fit in 4 GiB; a property that does not is left out when encoding.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<Bytes>) {
        self.props.push((name.into(), value.into()));
    }

    /// The first value under `name`, ignoring case.
    pub fn get(&self, name: &str) -> Option<&Bytes> {
        self.props
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// All properties in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Bytes)> {
        self.props.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.props.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.props.is_empty()
    }
}
