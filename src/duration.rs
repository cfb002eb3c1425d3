//! Durations as Vault and people write them: `24h`, `90m`, `1h30m`, `86400`.

/// A duration as people write it: the largest whole unit (`24h`, `90m`, `45s`).
pub fn format_duration(seconds: u64) -> String {
    match seconds {
        s if s > 0 && s % 3600 == 0 => format!("{}h", s / 3600),
        s if s > 0 && s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// Seconds in a Vault duration: plain seconds (`86400`) or units `s`, `m`, `h`, `d`,
/// possibly combined (`1h30m`).
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let bad =
        || format!("{text:?} is not a duration: use seconds (`86400`) or units s, m, h, d (`24h`, `90m`, `1h30m`).");
    if let Ok(seconds) = text.parse::<u64>() {
        return Ok(seconds);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = total.checked_add(n.checked_mul(unit).ok_or_else(bad)?).ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_vaults_forms() {
        assert_eq!(parse_duration("24h"), Ok(86_400));
        assert_eq!(parse_duration("90m"), Ok(5_400));
        assert_eq!(parse_duration("86400"), Ok(86_400));
        assert_eq!(parse_duration("1h30m"), Ok(5_400));
        assert_eq!(parse_duration("2d"), Ok(172_800));
        assert_eq!(format_duration(86_400), "24h");
        assert_eq!(format_duration(5_400), "90m");
        assert_eq!(format_duration(45), "45s");
        for bad in ["", "h", "24x", "1.5h", "-1h", "0s", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
