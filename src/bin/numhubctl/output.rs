//! Everything numhubctl writes on stdout goes through here: one line ([`out!`]), raw
//! bytes, pretty JSON, aligned tables and the cell text of a value. A reader that
//! stops reading (`numhubctl … | head`) ends numhubctl quietly, as it ends coreutils:
//! by SIGPIPE.

use serde::Serialize;
use serde_json::Value;

use numhubd::client::ClientError;
use numhubd::exit;

/// `println!` for everything numhubctl prints on stdout, through [`emit`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::emit(format_args!($($arg)*))
    };
}
pub(crate) use out;

/// One line on stdout (see [`stdout_failed`]).
pub fn emit(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout
        .write_fmt(line)
        .and_then(|()| stdout.write_all(b"\n"))
    {
        stdout_failed(&e);
    }
}

/// `bytes` on stdout as they are (see [`stdout_failed`]).
pub fn write_stdout(bytes: &[u8]) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        stdout_failed(&e);
    }
}

/// Rust ignores SIGPIPE, so a closed stdout is an EPIPE error, which `println!`
/// turns into a panic. A reader that went away ends numhubctl as it ends coreutils
/// (`yes | head`): SIGPIPE, restored to its default and raised, with no message
/// (the shell sees 141). SIGPIPE stays ignored until then, so a daemon closing the
/// socket is still an error numhubctl reports. Any other write failure is one too.
fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        // SAFETY: signal(2) and raise(2) with valid arguments; no handler is installed.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            libc::raise(libc::SIGPIPE);
        }
    }
    eprintln!("numhubctl: writing to standard output: {e}");
    std::process::exit(exit::IO)
}

/// `v` as pretty JSON. Through a `Value`, whose keys are sorted, so `--json` prints
/// the bytes it printed when it relayed the daemon's answer as it came.
pub fn print_json<T: Serialize>(v: &T) -> Result<(), ClientError> {
    let v = serde_json::to_value(v).map_err(|e| ClientError::Protocol(e.to_string()))?;
    out!(
        "{}",
        serde_json::to_string_pretty(&v).unwrap_or_else(|_| v.to_string())
    );
    Ok(())
}

/// `v` as JSON for scripts, or one line of `text`.
pub fn simple<T: Serialize>(json_out: bool, v: &T, text: &str) -> Result<(), ClientError> {
    if json_out {
        print_json(v)
    } else {
        out!("{text}");
        Ok(())
    }
}

/// `text` on one line: a newline or other control character (a dropped file's
/// name can hold one) is shown escaped, so it cannot forge a line of its own.
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// A field as a table cell: `-` for none, a string as it is, a list joined by commas.
pub fn cell<T: Serialize>(v: &T) -> String {
    value_cell(&serde_json::to_value(v).unwrap_or(Value::Null))
}

fn value_cell(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(value_cell).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// `table!(json_out, page, items; id, name, sync.state)`: [`print_table`] with a column
/// per field of the items' type. A column's header is the field's name, upper-cased
/// (`sync.state` reaches into the row's optional `sync`); its cells the field's
/// values. The compiler checks each field exists.
macro_rules! table {
    ($json_out:expr, $page:expr, $items:expr; $($head:ident $(.$tail:ident)?),+ $(,)?) => {
        $crate::output::print_table(
            $json_out,
            $page,
            $items,
            &[$(concat!(stringify!($head) $(, ".", stringify!($tail))?)),+],
            |row| vec![$($crate::output::cell(&$crate::output::table!(@field row $head $($tail)?))),+],
        )
    };
    (@field $row:ident $head:ident) => { $row.$head };
    (@field $row:ident $head:ident $tail:ident) => { $row.$head.as_ref().map(|x| &x.$tail) };
}
pub(crate) use table;

/// `items` as an aligned table under `columns`, each row's cells made by `row`; or,
/// for scripts, `page` as JSON.
pub fn print_table<P: Serialize, T>(
    json_out: bool,
    page: &P,
    items: &[T],
    columns: &[&str],
    row: impl Fn(&T) -> Vec<String>,
) -> Result<(), ClientError> {
    if json_out {
        return print_json(page);
    }
    let rows: Vec<Vec<String>> = items.iter().map(row).collect();
    let widths: Vec<usize> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([c.len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    out!(
        "{}",
        line(columns.iter().map(|c| c.to_uppercase()).collect())
    );
    for r in rows {
        out!("{}", line(r));
    }
    if items.is_empty() {
        out!("(none)");
    }
    Ok(())
}
