//! Test fixtures for operators: rows `(key STRING, v BIGINT, <time> TIMESTAMP(3))`.

use std::sync::Arc;

use arrow::array::{Int8Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion_physical_expr::expressions::Column;

use super::{JoinSpec, JoinType, Operator};
use crate::batch::{ChangeBatch, Message, RowKind};
use crate::checkpoint::State;

/// A fixed pseudo-random sequence from `seed`: each call gives a number below its argument
/// (below 2^31).
pub(crate) fn random(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut state = seed;
    move |below| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % below
    }
}

/// The schema `(key, v, <time>)`.
pub(crate) fn keyed_schema(time: &str) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, true),
        Field::new("v", DataType::Int64, true),
        Field::new(time, DataType::Timestamp(TimeUnit::Millisecond, None), true),
    ]))
}

/// Rows `(key, v, time, watermark before the row)` of [`keyed_schema`].
pub(crate) fn keyed_batch(time: &str, rows: &[(&str, i64, i64, i64)]) -> ChangeBatch {
    let data = RecordBatch::try_new(
        keyed_schema(time),
        vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(TimestampMillisecondArray::from_iter_values(
                rows.iter().map(|r| r.2),
            )),
        ],
    )
    .expect("rows match the schema");
    let mut batch = ChangeBatch::inserts(data);
    batch.watermarks = Some(Int64Array::from_iter_values(rows.iter().map(|r| r.3)));
    batch
}

/// The schema `(<prefix>k STRING, <prefix>v BIGINT)`.
pub(crate) fn kv_schema(prefix: &str) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new(format!("{prefix}k"), DataType::Utf8, true),
        Field::new(format!("{prefix}v"), DataType::Int64, true),
    ]))
}

/// Rows (kind, k, v) of [`kv_schema`] `schema` as a batch.
pub(crate) fn kv_batch(schema: SchemaRef, rows: &[(RowKind, Option<&str>, i64)]) -> ChangeBatch {
    let data = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.2))),
        ],
    )
    .expect("rows match the schema");
    ChangeBatch {
        data,
        ops: Some(Int8Array::from_iter_values(rows.iter().map(|r| r.0 as i8))),
        watermarks: None,
    }
}

/// A join of two inputs of [`keyed_schema`] on `key`, without other conditions; output rows
/// are the left columns then the right.
pub(crate) fn keyed_join_spec(join_type: JoinType, time: &str) -> JoinSpec {
    let inputs = [keyed_schema(time), keyed_schema(time)];
    let fields: Vec<Field> = inputs
        .iter()
        .flat_map(|s| s.fields().iter().map(|f| f.as_ref().clone()))
        .collect();
    let key = Arc::new(Column::new("key", 0));
    JoinSpec {
        join_type,
        keys: [vec![key.clone()], vec![key]],
        key_types: vec![DataType::Utf8],
        nulls_equal: false,
        filter: None,
        inputs,
        output: Arc::new(Schema::new(fields)),
    }
}

/// The messages as text: each row with its change kind (side rows prefixed with their side
/// output), watermarks, barriers and the end.
pub(crate) fn describe(messages: &[Message]) -> Vec<String> {
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for message in messages {
        let (prefix, batch) = match message {
            Message::Batch(batch) => (String::new(), batch),
            Message::Side(n, batch) => (format!("side {n} "), batch),
            Message::Watermark(w) => {
                out.push(format!("watermark {w}"));
                continue;
            }
            Message::Barrier(id) => {
                out.push(format!("barrier {id}"));
                continue;
            }
            Message::End => {
                out.push("end".into());
                continue;
            }
        };
        let formatters: Vec<_> = (batch.data.columns().iter())
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).expect("formats"))
            .collect();
        for row in 0..batch.num_rows() {
            let values: Vec<String> = formatters
                .iter()
                .map(|f| f.value(row).to_string())
                .collect();
            out.push(format!(
                "{prefix}{:?} {}",
                batch.row_kind(row),
                values.join(",")
            ));
        }
    }
    out
}

/// Calls `op`'s handler of each message of `inputs` (port and message) in turn, and the work
/// it leaves, as the runtime does. The end of input 0 ends them all (tests end the others
/// first, if at all).
pub(crate) fn feed(op: &mut dyn Operator, inputs: &[(usize, Message)], out: &mut Vec<Message>) {
    for (port, message) in inputs {
        match message.clone() {
            Message::Batch(batch) => op.on_batch(*port, batch, out).unwrap(),
            Message::Watermark(w) => op.on_watermark(w, out).unwrap(),
            Message::End => {
                op.on_input_end(*port, out).unwrap();
                if *port == 0 {
                    op.on_end(out).unwrap();
                }
            }
            Message::Barrier(_) => {}
            Message::Side(..) => unreachable!("operators emit side rows, never receive them"),
        }
        while op.busy() {
            op.resume(out).unwrap();
        }
    }
}

/// Checks that checkpoints neither change nor lose anything: `inputs` (port and message) fed
/// to an operator from `make` give the same output as when, after any message, its state is
/// taken (encoded and decoded as a checkpoint holds it) and the rest is fed both to the same
/// operator and to a fresh one restored from that state.
pub(crate) fn assert_restores(make: impl Fn() -> Box<dyn Operator>, inputs: &[(usize, Message)]) {
    let feed = |op: &mut Box<dyn Operator>, inputs: &[(usize, Message)], out: &mut Vec<Message>| {
        feed(op.as_mut(), inputs, out)
    };
    let mut expected = Vec::new();
    feed(&mut make(), inputs, &mut expected);
    let expected = describe(&expected);
    for cut in 0..=inputs.len() {
        let mut first = make();
        let mut before = Vec::new();
        feed(&mut first, &inputs[..cut], &mut before);
        let state = first.snapshot().unwrap();
        let state = State::decode(state.encode().unwrap()).unwrap();
        let mut restored = make();
        restored.restore(&state).unwrap();
        for op in [&mut first, &mut restored] {
            let mut out = before.clone();
            feed(op, &inputs[cut..], &mut out);
            assert_eq!(describe(&out), expected, "restored after message {cut}");
        }
    }
}
