//! Painted numbers (being written).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Number {
    Scheme { serial: u32, check: u8 },
    Source(Box<str>),
}
