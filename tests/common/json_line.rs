//! Field readers for the flat JSON lines `logtool --json` prints (one object a line, no nesting,
//! strings without escapes): enough to check a value without a JSON crate.

/// What follows `"name":` in `line`; panics naming the field when it is absent.
fn after<'a>(line: &'a str, name: &str) -> &'a str {
    let pat = format!("\"{name}\":");
    let at = line.find(&pat).unwrap_or_else(|| panic!("no {name} in {line}")) + pat.len();
    &line[at..]
}

/// The value of a number (or null) field.
pub(crate) fn num(line: &str, name: &str) -> Option<i64> {
    let rest = after(line, name);
    let text = &rest[..rest.find([',', '}']).unwrap()];
    if text == "null" { None } else { Some(text.parse().unwrap()) }
}

/// The value of a string (or null) field.
pub(crate) fn text_or_null<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let rest = after(line, name);
    if rest.starts_with("null") {
        return None;
    }
    let rest = rest.strip_prefix('"').unwrap_or_else(|| panic!("{name} is not a string in {line}"));
    Some(&rest[..rest.find('"').unwrap()])
}

/// The value of a string field that must not be null.
pub(crate) fn text<'a>(line: &'a str, name: &str) -> &'a str {
    text_or_null(line, name).unwrap_or_else(|| panic!("{name} is null in {line}"))
}
