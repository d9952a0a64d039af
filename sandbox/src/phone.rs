//! Phone numbers as the sandbox takes and makes them. The document types them as
//! plain strings with one example, `818-444-5555`; the sandbox keeps each number as it
//! was sent and only refuses text that is no phone number at all.

use std::str::FromStr;

/// The form of the numbers the sandbox generates (seeded applications).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PhoneForm {
    /// `+18184445555`.
    E164,
    /// `818-444-5555`, the document's example.
    #[default]
    Dashed,
}

impl FromStr for PhoneForm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "e164" => Ok(PhoneForm::E164),
            "dashed" => Ok(PhoneForm::Dashed),
            other => Err(format!("{other:?} is not a phone form (e164 or dashed)")),
        }
    }
}

impl PhoneForm {
    /// A NANP number given as area code, exchange and line (3, 3 and 4 digits).
    pub fn nanp(self, area: &str, exchange: &str, line: &str) -> String {
        match self {
            PhoneForm::E164 => format!("+1{area}{exchange}{line}"),
            PhoneForm::Dashed => format!("{area}-{exchange}-{line}"),
        }
    }
}

/// Separators a written number may carry between its digits.
fn separator(c: char) -> bool {
    matches!(c, '-' | ' ' | '.' | '(' | ')')
}

/// Accepts E.164 (`+` then 2-15 digits) and NANP numbers of 10 digits, or 11 with a
/// leading 1, written with dashes, spaces, dots or parentheses. Returns the digits
/// that identify the number (with the country code), for comparing two spellings.
pub fn check(n: &str) -> Result<String, String> {
    let t = n.trim();
    let (plus, rest) = match t.strip_prefix('+') {
        Some(r) => (true, r),
        None => (false, t),
    };
    if rest.is_empty() || !rest.chars().all(|c| c.is_ascii_digit() || separator(c)) {
        return Err(format!(
            "{n:?} is not a phone number (digits, optionally + first, with - . ( ) or spaces)"
        ));
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    let ok = if plus {
        (2..=15).contains(&digits.len()) && !digits.starts_with('0')
    } else {
        digits.len() == 10 || (digits.len() == 11 && digits.starts_with('1'))
    };
    if !ok {
        return Err(format!(
            "{n:?} is not a phone number (E.164, or a NANP number of 10 digits or 11 with a leading 1)"
        ));
    }
    Ok(if digits.len() == 10 && !plus {
        format!("1{digits}")
    } else {
        digits
    })
}

/// Whether two spellings name the same number (each already checked, or compared as
/// written when one is not a number).
pub fn same(a: &str, b: &str) -> bool {
    match (check(a), check(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documents_forms_are_numbers() {
        for n in [
            "818-444-5555",
            "(818) 444-5555",
            "818 444 5555",
            "818.444.5555",
            "8184445555",
            "18184445555",
            "1-818-444-5555",
            "+18184445555",
            "+44 20 7946 0958",
        ] {
            assert!(check(n).is_ok(), "{n}");
        }
        for n in [
            "",
            "abc",
            "818-444-555",
            "28184445555",
            "+0123",
            "818-444-555x",
        ] {
            assert!(check(n).is_err(), "{n}");
        }
        assert!(same("818-444-5555", "+18184445555"));
        assert!(!same("818-444-5555", "818-444-5556"));
    }
}
