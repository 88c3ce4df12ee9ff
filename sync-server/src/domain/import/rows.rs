//! A retailer's file as records of named text fields, whichever way it is written: CSV with a
//! header row, or JSON lines (strings, numbers, booleans and arrays of them; an array is
//! read as its items joined with `;`, the way a CSV cell lists several). Columns are renamed
//! from the file's own names first, and a column the import does not know is refused, so a
//! misspelt header is an error rather than a field silently left empty.

use aisle_core::api::{ImportFormat, ImportRowError};
use aisle_core::validate::MAX_UNIT_PRICE_MINOR;
use std::collections::BTreeMap;

/// Most bad records listed in a refusal; the rest are counted.
pub const MAX_LISTED_ERRORS: usize = 100;

/// One record of the file.
#[derive(Debug)]
pub struct Row {
    /// Where it is in the file, for errors (a CSV file's header is line 1).
    pub line: usize,
    fields: BTreeMap<String, String>,
}

/// The bad records of a file, in file order.
#[derive(Debug, Default)]
pub struct RowErrors {
    pub listed: Vec<ImportRowError>,
    pub count: usize,
}

impl RowErrors {
    pub fn add(&mut self, line: usize, reason: impl Into<String>) {
        self.count += 1;
        if self.listed.len() < MAX_LISTED_ERRORS {
            self.listed.push(ImportRowError {
                line,
                reason: reason.into(),
            });
        }
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

impl Row {
    /// A field, trimmed; `None` when absent or blank.
    pub fn get(&self, column: &str) -> Option<&str> {
        self.fields
            .get(column)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, column: &str) -> Result<&str, String> {
        self.get(column)
            .ok_or_else(|| format!("{column} is missing"))
    }

    /// A list field: items separated by `;` (or `|`), blanks dropped.
    pub fn list(&self, column: &str) -> Vec<String> {
        self.get(column)
            .map(|v| {
                v.split([';', '|'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn integer(&self, column: &str) -> Result<i64, String> {
        let text = self.required(column)?;
        text.parse()
            .map_err(|_| format!("{column} is not a whole number: {text:?}"))
    }

    pub fn decimal(&self, column: &str) -> Result<f64, String> {
        let text = self.required(column)?;
        text.parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("{column} is not a number: {text:?}"))
    }

    /// A yes/no field; `None` when blank.
    pub fn flag(&self, column: &str) -> Result<Option<bool>, String> {
        match self.get(column).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(None),
            Some("yes" | "y" | "true" | "1") => Ok(Some(true)),
            Some("no" | "n" | "false" | "0") => Ok(Some(false)),
            Some(other) => Err(format!("{column} is not yes or no: {other:?}")),
        }
    }

    /// An amount in major units (`49.99`; `1200` for yen) in minor units of a currency with
    /// `digits` decimals (4999). Parsed as text, never through a float, so none is off by a
    /// cent.
    pub fn money(&self, column: &str, digits: u32) -> Result<i64, String> {
        let text = self.required(column)?;
        let amount = aisle_core::model::parse_amount(text, digits)
            .map_err(|reason| format!("{column}: {reason}"))?;
        if amount > MAX_UNIT_PRICE_MINOR {
            return Err(format!(
                "{column}: {text} is above the highest price a line may carry"
            ));
        }
        Ok(amount)
    }
}

/// Reads every record of `text`: the records that read, and the lines that did not (the
/// import goes on checking the rest, so one refusal names every bad line). `rename` maps the
/// file's column names to the import's; `columns` are the names the import knows. A CSV
/// header that does not read or names an unknown column fails the file as a whole (line 1).
pub fn read(
    text: &str,
    format: ImportFormat,
    rename: &BTreeMap<String, String>,
    columns: &[&str],
) -> Result<(Vec<Row>, RowErrors), RowErrors> {
    let name = |column: &str| -> String {
        let column = column.trim();
        rename
            .get(column)
            .cloned()
            .unwrap_or_else(|| column.to_string())
    };
    let mut errors = RowErrors::default();
    let mut rows = Vec::new();
    match format {
        ImportFormat::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .flexible(false)
                .trim(csv::Trim::None)
                .from_reader(text.as_bytes());
            let header: Vec<String> = match reader.headers() {
                Ok(h) => h.iter().map(name).collect(),
                Err(e) => {
                    errors.add(1, format!("the header row is not CSV: {e}"));
                    return Err(errors);
                }
            };
            let unknown: Vec<&String> = header
                .iter()
                .filter(|h| !columns.contains(&h.as_str()))
                .collect();
            if !unknown.is_empty() {
                errors.add(1, unknown_columns(&unknown, columns));
                return Err(errors);
            }
            for record in reader.records() {
                match record {
                    Ok(record) => {
                        let line = record
                            .position()
                            .map_or(0, |p| usize::try_from(p.line()).unwrap_or(usize::MAX));
                        if record.iter().all(|f| f.trim().is_empty()) {
                            continue;
                        }
                        let fields = header
                            .iter()
                            .cloned()
                            .zip(record.iter().map(str::to_string))
                            .collect();
                        rows.push(Row { line, fields });
                    }
                    Err(e) => {
                        let line = e
                            .position()
                            .map_or(0, |p| usize::try_from(p.line()).unwrap_or(usize::MAX));
                        errors.add(line, format!("not a CSV record: {e}"));
                    }
                }
            }
        }
        ImportFormat::Jsonl => {
            for (i, text) in text.lines().enumerate() {
                let line = i + 1;
                if text.trim().is_empty() {
                    continue;
                }
                match json_fields(text) {
                    Ok(object) => {
                        let fields: BTreeMap<String, String> =
                            object.into_iter().map(|(k, v)| (name(&k), v)).collect();
                        let unknown: Vec<&String> = fields
                            .keys()
                            .filter(|k| !columns.contains(&k.as_str()))
                            .collect();
                        if unknown.is_empty() {
                            rows.push(Row { line, fields });
                        } else {
                            errors.add(line, unknown_columns(&unknown, columns));
                        }
                    }
                    Err(reason) => errors.add(line, reason),
                }
            }
        }
    }
    Ok((rows, errors))
}

fn unknown_columns(unknown: &[&String], columns: &[&str]) -> String {
    let unknown: Vec<&str> = unknown.iter().map(|s| s.as_str()).collect();
    format!(
        "unknown column{} {} (this import reads {}; map other names with --map theirs=ours)",
        if unknown.len() == 1 { "" } else { "s" },
        unknown.join(", "),
        columns.join(", ")
    )
}

/// A JSON object's fields as text.
fn json_fields(text: &str) -> Result<Vec<(String, String)>, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not a JSON object: {e}"))?;
    let serde_json::Value::Object(object) = value else {
        return Err("not a JSON object".into());
    };
    let mut fields = Vec::with_capacity(object.len());
    for (key, value) in object {
        let text = match value {
            serde_json::Value::Null => continue,
            serde_json::Value::Array(items) => {
                let mut parts = Vec::with_capacity(items.len());
                for item in items {
                    parts.push(scalar(&key, item)?);
                }
                parts.join(";")
            }
            other => scalar(&key, other)?,
        };
        fields.push((key, text));
    }
    Ok(fields)
}

fn scalar(key: &str, value: serde_json::Value) -> Result<String, String> {
    match value {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Bool(b) => Ok(b.to_string()),
        _ => Err(format!(
            "{key} must be text, a number, yes/no or a list of them"
        )),
    }
}

/// Parses `theirs=ours,theirs=ours` (what `--map` and the API's `map` take).
pub fn parse_mapping(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (theirs, ours) = pair
            .split_once('=')
            .ok_or_else(|| format!("{pair:?} is not theirs=ours"))?;
        map.insert(theirs.trim().to_string(), ours.trim().to_string());
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_parsed_exactly() {
        let row = |v: &str| Row {
            line: 2,
            fields: BTreeMap::from([("price".to_string(), v.to_string())]),
        };
        assert_eq!(row("49.99").money("price", 2), Ok(4999));
        assert_eq!(row("49.9").money("price", 2), Ok(4990));
        assert_eq!(row("12").money("price", 2), Ok(1200));
        assert_eq!(row("1200").money("price", 0), Ok(1200));
        for bad in ["-1", "1.234", "1,50", "", "abc", ".5", "1000000000.01"] {
            assert!(row(bad).money("price", 2).is_err(), "{bad:?}");
        }
        assert!(
            row("12.50")
                .money("price", 0)
                .unwrap_err()
                .contains("no decimals")
        );
    }

    #[test]
    fn csv_and_json_lines_read_the_same_and_unknown_columns_are_refused() {
        let rename = BTreeMap::from([("Article".to_string(), "sku".to_string())]);
        let columns = ["sku", "sizes"];
        let (csv, _) = read(
            "Article,sizes\nA-1,S;M\n",
            ImportFormat::Csv,
            &rename,
            &columns,
        )
        .unwrap();
        let (json, _) = read(
            "{\"Article\":\"A-1\",\"sizes\":[\"S\",\"M\"]}\n",
            ImportFormat::Jsonl,
            &rename,
            &columns,
        )
        .unwrap();
        assert_eq!(csv[0].fields, json[0].fields);
        assert_eq!(csv[0].line, 2);
        assert_eq!(json[0].list("sizes"), ["S", "M"]);
        let refused =
            read("sku,colour\nA,red\n", ImportFormat::Csv, &rename, &columns).unwrap_err();
        assert_eq!(refused.listed[0].line, 1);
        assert!(refused.listed[0].reason.contains("colour"));
        let (read_rows, refused) = read(
            "{\"sku\":\"A\"}\nnot json\n",
            ImportFormat::Jsonl,
            &rename,
            &columns,
        )
        .unwrap();
        assert_eq!(read_rows.len(), 1);
        assert_eq!(refused.listed[0].line, 2);
    }
}
