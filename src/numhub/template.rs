//! The LOA template's answer (`GET /application/{NumhubEntityId}/downloadtemplate`)
//! turned into the PDF's bytes. The document says only "200 `IActionResult`" with
//! text/plain, application/json or text/json, so every reasonable reading is taken:
//! the bytes themselves (`application/pdf`, `application/octet-stream`, or anything
//! else), a serialized ASP.NET `FileContentResult` (`fileContents` in base64, any
//! key case), a JSON string of base64, or the base64 text alone. Whatever does not
//! come out as bytes starting `%PDF-` is refused, naming what came.

use base64::Engine;
use serde_json::Value;

/// The largest template taken (a one-page form is far smaller).
pub const MAX_BYTES: usize = 20 * 1024 * 1024;

const MAGIC: &[u8] = b"%PDF-";

/// The PDF in `body`, or why there is none (with the content type and the first
/// bytes of what came, printable).
pub fn pdf_from_answer(body: &[u8], content_type: Option<&str>) -> Result<Vec<u8>, String> {
    if body.starts_with(MAGIC) {
        return Ok(body.to_vec());
    }
    let refuse = |why: String| {
        format!(
            "not a PDF ({why}); came {} bytes of {} starting {:?}",
            body.len(),
            content_type.unwrap_or("no Content-Type"),
            String::from_utf8_lossy(&body[..body.len().min(40)])
        )
    };
    let text = trim(body);
    let decoded = match text.first() {
        Some(b'{') | Some(b'"') => match serde_json::from_slice::<Value>(text) {
            Ok(Value::String(s)) => base64(&s),
            Ok(Value::Object(o)) => {
                // System.Text.Json writes camelCase, Newtonsoft PascalCase by default.
                match o
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("fileContents"))
                    .map(|(_, v)| v)
                {
                    Some(Value::String(s)) => base64(s),
                    Some(_) => Err("fileContents is not a string".into()),
                    None => Err("a JSON object without fileContents".into()),
                }
            }
            Ok(_) => Err("JSON that is neither an object nor a string".into()),
            Err(e) => Err(format!("not JSON: {e}")),
        },
        Some(_) => base64(&String::from_utf8_lossy(text)),
        None => Err("an empty body".into()),
    }
    .map_err(refuse)?;
    if decoded.starts_with(MAGIC) {
        Ok(decoded)
    } else {
        Err(refuse("decoded, it does not start with %PDF-".into()))
    }
}

/// Leading BOM and whitespace off both ends (text answers often end in a newline).
fn trim(body: &[u8]) -> &[u8] {
    let body = body.strip_prefix(b"\xef\xbb\xbf").unwrap_or(body);
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(body.len());
    let end = body
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &body[start..end.max(start)]
}

/// Standard or URL-safe base64, padded or not, with line breaks (MIME style) allowed.
fn base64(s: &str) -> Result<Vec<u8>, String> {
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    use base64::engine::DecodePaddingMode;
    let cfg = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let clean: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    GeneralPurpose::new(&base64::alphabet::STANDARD, cfg)
        .decode(&clean)
        .or_else(|_| GeneralPurpose::new(&base64::alphabet::URL_SAFE, cfg).decode(&clean))
        .map_err(|e| format!("not base64: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;

    const PDF: &[u8] = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\nbody\n%%EOF\n";

    #[test]
    fn every_reading_gives_the_same_bytes() {
        let b64 = STANDARD.encode(PDF);
        let readings: Vec<(Vec<u8>, &str)> = vec![
            (PDF.to_vec(), "application/pdf"),
            (PDF.to_vec(), "application/octet-stream"),
            (
                format!(r#"{{"fileContents":"{b64}","contentType":"application/pdf","fileDownloadName":"a.pdf","lastModified":null,"entityTag":null,"enableRangeProcessing":false}}"#).into_bytes(),
                "application/json",
            ),
            (format!(r#"{{"FileContents":"{b64}"}}"#).into_bytes(), "text/json"),
            (format!("\"{b64}\"").into_bytes(), "application/json"),
            (format!("{b64}\r\n").into_bytes(), "text/plain"),
            (b64.trim_end_matches('=').as_bytes().to_vec(), "text/plain"),
        ];
        for (body, ct) in readings {
            assert_eq!(pdf_from_answer(&body, Some(ct)).as_deref(), Ok(PDF), "{ct}");
        }
    }

    #[test]
    fn what_is_not_a_pdf_is_named() {
        for (body, ct, says) in [
            (&b""[..], "text/plain", "empty"),
            (b"{}", "application/json", "without fileContents"),
            (b"hello world!", "text/plain", "not base64"),
            (b"aGVsbG8=", "text/plain", "does not start with %PDF-"),
            (b"<html>", "text/html", "text/html"),
        ] {
            let e = pdf_from_answer(body, Some(ct)).expect_err("refused");
            assert!(e.contains(says), "{e}");
        }
    }
}
