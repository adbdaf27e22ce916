//! Resource budgets an app asks for in `[limits]`.

/// Smallest memory budget: below this not even a small component instantiates.
pub const MIN_MEMORY_BYTES: u64 = 1 << 20;
/// Largest memory budget: a wasm32 component cannot address more than 4 GiB.
pub const MAX_MEMORY_BYTES: u64 = 4 << 30;
/// Largest CPU quota, in percent of one core.
pub const MAX_CPU_PERCENT: u32 = 10_000;

/// An app's resource budgets; `None` means the system default applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Limits {
    /// Most linear memory, in bytes, the app may grow to (all memories together).
    pub memory_bytes: Option<u64>,
    /// Most CPU time, in percent of one core (as systemd's `CPUQuota=`).
    pub cpu_percent: Option<u32>,
}

/// Why a limit was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// Not `<number><unit>` with a binary unit.
    #[error("expected a size like \"64MiB\" (units: KiB, MiB, GiB)")]
    MemoryFormat,
    /// Outside [`MIN_MEMORY_BYTES`]..=[`MAX_MEMORY_BYTES`].
    #[error("memory must be from 1MiB to 4GiB")]
    MemoryRange,
    /// Not `<number>%`.
    #[error("expected a share of one core like \"50%\"")]
    CpuFormat,
    /// Outside 1..=[`MAX_CPU_PERCENT`].
    #[error("cpu must be from 1% to {MAX_CPU_PERCENT}%")]
    CpuRange,
}

/// Parses a memory size such as `64MiB` into bytes.
pub fn parse_memory(text: &str) -> Result<u64, LimitError> {
    let split = text.find(|c: char| !c.is_ascii_digit()).ok_or(LimitError::MemoryFormat)?;
    let (digits, unit) = text.split_at(split);
    let shift = match unit {
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        _ => return Err(LimitError::MemoryFormat),
    };
    let number: u64 = digits.parse().map_err(|_| LimitError::MemoryFormat)?;
    let bytes = number.checked_shl(shift).filter(|bytes| bytes >> shift == number);
    match bytes {
        Some(bytes) if (MIN_MEMORY_BYTES..=MAX_MEMORY_BYTES).contains(&bytes) => Ok(bytes),
        _ => Err(LimitError::MemoryRange),
    }
}

/// Parses a CPU quota such as `50%` into percent of one core.
pub fn parse_cpu(text: &str) -> Result<u32, LimitError> {
    let digits = text.strip_suffix('%').ok_or(LimitError::CpuFormat)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LimitError::CpuFormat);
    }
    match digits.parse::<u32>() {
        Ok(percent) if (1..=MAX_CPU_PERCENT).contains(&percent) => Ok(percent),
        _ => Err(LimitError::CpuRange),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes_and_quotas() {
        assert_eq!(parse_memory("64MiB"), Ok(64 << 20));
        assert_eq!(parse_memory("1024KiB"), Ok(1 << 20));
        assert_eq!(parse_memory("4GiB"), Ok(4 << 30));
        assert_eq!(parse_memory("64"), Err(LimitError::MemoryFormat));
        assert_eq!(parse_memory("64MB"), Err(LimitError::MemoryFormat));
        assert_eq!(parse_memory("-1MiB"), Err(LimitError::MemoryFormat));
        assert_eq!(parse_memory("MiB"), Err(LimitError::MemoryFormat));
        assert_eq!(parse_memory("5GiB"), Err(LimitError::MemoryRange));
        assert_eq!(parse_memory("1KiB"), Err(LimitError::MemoryRange));
        assert_eq!(parse_memory("99999999999999999999GiB"), Err(LimitError::MemoryFormat));
        assert_eq!(parse_memory("17179869184GiB"), Err(LimitError::MemoryRange));
        assert_eq!(parse_cpu("50%"), Ok(50));
        assert_eq!(parse_cpu("50"), Err(LimitError::CpuFormat));
        assert_eq!(parse_cpu("+5%"), Err(LimitError::CpuFormat));
        assert_eq!(parse_cpu("0%"), Err(LimitError::CpuRange));
        assert_eq!(parse_cpu("10001%"), Err(LimitError::CpuRange));
    }
}
