//! Decoding records that arrive one at a time, the messages of a log (Kafka): each message
//! holds one record of the table's format.

use arrow::array::{ArrayRef, BinaryBuilder, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::SchemaRef;
use std::sync::Arc;

use super::decode::{Decoder, FileFormat, Record, RecordByRecord, RecordFormat};
use crate::Result;

/// Decodes runs of messages into record batches.
pub struct MessageDecoder {
    records: RecordFormat,
    schema: SchemaRef,
    /// The messages of a run, each followed by a line end.
    text: Vec<u8>,
    /// Messages one at a time, when a run fails to decode.
    each: RecordByRecord,
}

/// The rows of a run of messages.
pub struct Decoded {
    pub data: RecordBatch,
    /// The message each row came from, when a malformed message was left out (`None`: rows
    /// and messages correspond one to one). Always `None` for change events, where one
    /// message may give two rows.
    pub messages: Option<UInt32Array>,
}

impl MessageDecoder {
    /// A decoder of messages holding records of `records`' format with the columns `schema`.
    pub fn new(records: RecordFormat, schema: SchemaRef) -> Self {
        MessageDecoder {
            each: RecordByRecord::new(records, schema.clone()),
            records,
            schema,
            text: Vec::new(),
        }
    }

    /// The columns of decoded batches (the change kind last, for change events).
    pub fn decoded_schema(&self) -> SchemaRef {
        self.records.format.decoded_schema(&self.schema)
    }

    /// Decodes `values`, one record each. A malformed one is passed with its index and the
    /// reason to `malformed`, which fails the job or counts it; with ignore-parse-errors, its
    /// row is read with NULL for the values that cannot be read, or left out.
    pub fn decode(
        &mut self,
        values: &[&[u8]],
        mut malformed: impl FnMut(usize, String) -> Result<()>,
    ) -> Result<Decoded> {
        let max = self.records.max_record_bytes;
        if self.records.format == FileFormat::Raw {
            return self.decode_raw(values, malformed);
        }
        let fits = values.iter().all(|v| v.len() as u64 <= max);
        if fits && let Some(decoded) = self.decode_together(values) {
            return Ok(decoded);
        }
        // Something is wrong with a message: each is decoded on its own, to keep the good
        // and report the bad ones.
        let changelog = self.records.format.is_changelog();
        let mut rows = Vec::with_capacity(values.len());
        let mut of = Vec::with_capacity(values.len());
        for (i, value) in values.iter().enumerate() {
            if value.len() as u64 > max {
                let reason = self.records.too_long(value.len() as u64);
                malformed(i, self.records.skipped(reason))?;
                continue;
            }
            match self.each.read(value) {
                Record::Rows(batch) if changelog || batch.num_rows() == 1 => {
                    of.extend(std::iter::repeat_n(i as u32, batch.num_rows()));
                    rows.push(batch);
                }
                Record::Rows(batch) => {
                    let reason = format!("a message holds {} records, not one", batch.num_rows());
                    malformed(i, self.records.skipped(reason))?
                }
                Record::Nulled(row, nulled) => {
                    malformed(i, nulled)?;
                    of.extend(std::iter::repeat_n(i as u32, row.num_rows()));
                    rows.push(row);
                }
                Record::Malformed(reason) => malformed(i, self.records.skipped(reason))?,
            }
        }
        Ok(Decoded {
            data: arrow::compute::concat_batches(&self.decoded_schema(), &rows)?,
            messages: (!changelog).then(|| UInt32Array::from(of)),
        })
    }

    /// All of `values` decoded at once, if each gave one row (or they are change events).
    fn decode_together(&mut self, values: &[&[u8]]) -> Option<Decoded> {
        self.text.clear();
        for value in values {
            self.text.extend_from_slice(value);
            self.text.push(b'\n');
        }
        let mut decoder =
            Decoder::new(self.records.format, self.schema.clone(), values.len() + 1).ok()?;
        let mut at = 0;
        while at < self.text.len() {
            match decoder.decode(&self.text[at..]) {
                Ok(0) | Err(_) => return None,
                Ok(n) => at += n,
            }
        }
        let data = match decoder.flush().ok()? {
            Some(data) => data,
            None => RecordBatch::new_empty(self.decoded_schema()),
        };
        let changelog = self.records.format.is_changelog();
        (changelog || data.num_rows() == values.len()).then_some(Decoded {
            data,
            messages: None,
        })
    }

    /// The `raw` format: each message's bytes are the text of the one column.
    fn decode_raw(
        &mut self,
        values: &[&[u8]],
        mut malformed: impl FnMut(usize, String) -> Result<()>,
    ) -> Result<Decoded> {
        let max = self.records.max_record_bytes;
        let mut text = BinaryBuilder::with_capacity(values.len(), 0);
        let mut of = Vec::new();
        for (i, value) in values.iter().enumerate() {
            let reason = if value.len() as u64 > max {
                self.records.too_long(value.len() as u64)
            } else if let Err(e) = std::str::from_utf8(value) {
                format!("not UTF-8 text: {e}")
            } else {
                text.append_value(value);
                of.push(i as u32);
                continue;
            };
            malformed(i, self.records.skipped(reason))?;
        }
        let column: ArrayRef = Arc::new(StringArray::try_from_binary(text.finish())?);
        Ok(Decoded {
            data: RecordBatch::try_new(self.schema.clone(), vec![column])?,
            messages: (of.len() != values.len()).then(|| UInt32Array::from(of)),
        })
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::AsArray;
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};

    use super::*;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]))
    }

    fn ids(d: &Decoded) -> Vec<i64> {
        d.data
            .column(0)
            .as_primitive::<Int64Type>()
            .values()
            .to_vec()
    }

    #[test]
    fn each_message_is_one_row_and_bad_ones_are_named() {
        for format in [FileFormat::Csv, FileFormat::Json] {
            let mut decoder = MessageDecoder::new(RecordFormat::new(format), schema());
            let good: Vec<&[u8]> = match format {
                FileFormat::Csv => vec![b"1,a", b"2,\"b\nc\"", b"3,d"],
                _ => vec![br#"{"id":1}"#, br#"{"id":2,"name":"b"}"#, br#"{"id":3}"#],
            };
            let d = decoder.decode(&good, |_, _| panic!("no bad row")).unwrap();
            assert_eq!(ids(&d), vec![1, 2, 3]);
            assert!(d.messages.is_none());
            // A bad message, and one that holds two records: both are left out and named.
            let bad: Vec<&[u8]> = match format {
                FileFormat::Csv => vec![b"1,a", b"x,b", b"3,c\n4,d", b"5,e"],
                _ => vec![
                    br#"{"id":1}"#,
                    b"{oops",
                    br#"{"id":3}{"id":4}"#,
                    br#"{"id":5}"#,
                ],
            };
            let mut reasons = Vec::new();
            let d = decoder
                .decode(&bad, |i, reason| {
                    reasons.push((i, reason));
                    Ok(())
                })
                .unwrap();
            assert_eq!(ids(&d), vec![1, 5], "{format:?}");
            assert_eq!(d.messages.unwrap(), UInt32Array::from(vec![0, 3]));
            assert_eq!(reasons.iter().map(|r| r.0).collect::<Vec<_>>(), vec![1, 2]);
            assert_eq!(reasons[1].1, "a message holds 2 records, not one");
            if format == FileFormat::Csv {
                assert_eq!(reasons[0].1, "cannot read 'x' as BIGINT for column id");
            }
            // More records in a message than a decoder's batch holds (a hang, once).
            let many = String::from_utf8(good[0].to_vec()).unwrap() + "\n";
            let many = many.repeat(40);
            let mut reasons = Vec::new();
            let d = decoder
                .decode(&[good[2], many.as_bytes()], |i, reason| {
                    reasons.push((i, reason));
                    Ok(())
                })
                .unwrap();
            assert_eq!(ids(&d), vec![3]);
            let holds = (1, "a message holds 40 records, not one".to_string());
            assert_eq!(reasons, vec![holds]);
        }
    }

    #[test]
    fn a_message_over_the_maximum_is_malformed() {
        for format in [FileFormat::Json, FileFormat::Raw] {
            let records = RecordFormat {
                max_record_bytes: 10,
                ..RecordFormat::new(format)
            };
            let schema = match format {
                FileFormat::Raw => {
                    Arc::new(Schema::new(vec![Field::new("s", DataType::Utf8, true)]))
                }
                _ => schema(),
            };
            let mut decoder = MessageDecoder::new(records, schema);
            let mut reasons = Vec::new();
            let d = decoder
                .decode(&[br#"{"id":1}"#, br#"{"id":22222}"#], |i, reason| {
                    reasons.push((i, reason));
                    Ok(())
                })
                .unwrap();
            assert_eq!(d.data.num_rows(), 1, "{format:?}");
            assert_eq!(
                reasons,
                vec![(
                    1,
                    "record of 12 bytes is longer than the maximum of 10 bytes \
                     (the table's 'source.max-record-size')"
                        .to_string()
                )]
            );
        }
    }

    #[test]
    fn raw_messages_are_text_values() {
        let schema = Arc::new(Schema::new(vec![Field::new("line", DataType::Utf8, true)]));
        let mut decoder = MessageDecoder::new(RecordFormat::new(FileFormat::Raw), schema);
        let mut bad = Vec::new();
        let d = decoder
            .decode(&[b"a,b\nc", b"\xff", b""], |i, _| {
                bad.push(i);
                Ok(())
            })
            .unwrap();
        let text: Vec<&str> = d
            .data
            .column(0)
            .as_string::<i32>()
            .iter()
            .flatten()
            .collect();
        assert_eq!(text, vec!["a,b\nc", ""]);
        assert_eq!(bad, vec![1]);
    }
}
