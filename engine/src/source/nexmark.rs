//! The `nexmark` connector: the Nexmark benchmark's auction events (people, auctions, bids),
//! made by the `nexmark` crate's generator, as the rows of the benchmark's table: an
//! `event_type` and one nested row per kind of event, of which only the event's own is set.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, NullBufferBuilder};
use arrow::array::{
    ArrayRef, Int32Builder, Int64Builder, RecordBatch, RecordBatchOptions, StringBuilder,
    StructArray, TimestampMillisecondBuilder,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use nexmark::EventGenerator;
use nexmark::config::NexmarkConfig;
use nexmark::event::Event;
use serde::{Deserialize, Serialize};

use super::in_order::in_order;
use super::{Emitter, RowShape, Rows, Source, SourceContext, WatermarkAssigner};
use crate::batch::Message;
use crate::checkpoint::State;
use crate::operator::Calc;
use crate::time::{MAX_WATERMARK, Watermark};
use crate::{EngineError, Result};

/// How the event rate changes between `first_event_rate` and `next_event_rate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateShape {
    Square,
    Sine,
}

/// The options of the `nexmark` connector, named and defaulted as in Flink's Nexmark source.
#[derive(Debug, Clone, PartialEq)]
pub struct NexmarkSettings {
    /// Events per second of event time at first and next (`first-event.rate`, `next-event.rate`).
    pub first_event_rate: usize,
    pub next_event_rate: usize,
    /// `rate.shape` and `rate.period` (seconds) of the change between the two rates.
    pub rate_shape: RateShape,
    pub rate_period_secs: usize,
    /// Emit events no faster than their event times pass on the wall clock (`rate.limited`);
    /// otherwise as fast as the job takes them.
    pub rate_limited: bool,
    /// Average sizes of the events, in bytes (`person.avg-size`, ...).
    pub person_avg_size: usize,
    pub auction_avg_size: usize,
    pub bid_avg_size: usize,
    /// Out of every `person + auction + bid` events, how many are of each kind.
    pub person_proportion: usize,
    pub auction_proportion: usize,
    pub bid_proportion: usize,
    /// `bid.hot-ratio.auctions`, `bid.hot-ratio.bidders`, `auction.hot-ratio.sellers`.
    pub hot_auction_ratio: usize,
    pub hot_bidder_ratio: usize,
    pub hot_seller_ratio: usize,
    /// How many events to generate (`events.num`); `None` never ends.
    pub events: Option<u64>,
    /// The first event's time, in milliseconds since the epoch (`rill.base-time`); `None`
    /// takes the wall clock when the job starts, as Flink does.
    pub base_time: Option<i64>,
}

impl Default for NexmarkSettings {
    fn default() -> Self {
        NexmarkSettings {
            first_event_rate: 10_000,
            next_event_rate: 10_000,
            rate_shape: RateShape::Square,
            rate_period_secs: 600,
            rate_limited: false,
            person_avg_size: 200,
            auction_avg_size: 500,
            bid_avg_size: 100,
            person_proportion: 1,
            auction_proportion: 3,
            bid_proportion: 46,
            hot_auction_ratio: 2,
            hot_bidder_ratio: 4,
            hot_seller_ratio: 4,
            events: None,
            base_time: None,
        }
    }
}

impl NexmarkSettings {
    fn config(&self, base_time: i64) -> NexmarkConfig {
        NexmarkConfig {
            first_rate: self.first_event_rate,
            next_rate: self.next_event_rate,
            rate_shape: match self.rate_shape {
                RateShape::Square => nexmark::config::RateShape::Square,
                RateShape::Sine => nexmark::config::RateShape::Sine,
            },
            rate_period: self.rate_period_secs,
            avg_person_byte_size: self.person_avg_size,
            avg_auction_byte_size: self.auction_avg_size,
            avg_bid_byte_size: self.bid_avg_size,
            person_proportion: self.person_proportion,
            auction_proportion: self.auction_proportion,
            bid_proportion: self.bid_proportion,
            hot_auction_ratio: self.hot_auction_ratio,
            hot_bidder_ratio: self.hot_bidder_ratio,
            hot_seller_ratio: self.hot_seller_ratio,
            base_time: base_time as u64,
            // Flink's generator's words (the crate's are lower case): Nexmark q3 looks for
            // sellers in 'OR', 'ID' and 'CA'.
            us_states: words("AZ,CA,ID,OR,WA,WY"),
            us_cities: words(
                "Phoenix,Los Angeles,San Francisco,Boise,Portland,Bend,Redmond,Seattle,Kent,\
                 Cheyenne",
            ),
            first_names: words("Peter,Paul,Luke,John,Saul,Vicky,Kate,Julie,Sarah,Deiter,Walter"),
            last_names: words("Shultz,Abrams,Spencer,White,Bartels,Walton,Smith,Jones,Noris"),
            ..NexmarkConfig::default()
        }
    }
}

fn words(list: &str) -> Vec<String> {
    list.split(',').map(String::from).collect()
}

/// The kind of value of a field of an event.
#[derive(Clone, Copy)]
enum Kind {
    Int,
    Text,
    Time,
}

/// The fields of each kind of event, as the benchmark's table declares them.
const PERSON: [(&str, Kind); 8] = [
    ("id", Kind::Int),
    ("name", Kind::Text),
    ("emailAddress", Kind::Text),
    ("creditCard", Kind::Text),
    ("city", Kind::Text),
    ("state", Kind::Text),
    ("dateTime", Kind::Time),
    ("extra", Kind::Text),
];
const AUCTION: [(&str, Kind); 10] = [
    ("id", Kind::Int),
    ("itemName", Kind::Text),
    ("description", Kind::Text),
    ("initialBid", Kind::Int),
    ("reserve", Kind::Int),
    ("dateTime", Kind::Time),
    ("expires", Kind::Time),
    ("seller", Kind::Int),
    ("category", Kind::Int),
    ("extra", Kind::Text),
];
const BID: [(&str, Kind); 7] = [
    ("auction", Kind::Int),
    ("bidder", Kind::Int),
    ("price", Kind::Int),
    ("channel", Kind::Text),
    ("url", Kind::Text),
    ("dateTime", Kind::Time),
    ("extra", Kind::Text),
];

fn fields(kinds: &[(&str, Kind)]) -> Fields {
    kinds
        .iter()
        .map(|(name, kind)| {
            let data_type = match kind {
                Kind::Int => DataType::Int64,
                Kind::Text => DataType::Utf8,
                Kind::Time => DataType::Timestamp(TimeUnit::Millisecond, None),
            };
            Field::new(*name, data_type, true)
        })
        .collect()
}

/// The columns the generator makes: the benchmark's table without its computed `dateTime`.
fn nexmark_schema() -> Schema {
    Schema::new(vec![
        Field::new("event_type", DataType::Int32, true),
        Field::new("person", DataType::Struct(fields(&PERSON)), true),
        Field::new("auction", DataType::Struct(fields(&AUCTION)), true),
        Field::new("bid", DataType::Struct(fields(&BID)), true),
    ])
}

/// The columns of [`nexmark_schema`] that `table` has, with the fields of its rows that
/// `table`'s have: those the generator makes for it.
fn generated_for(table: &Schema) -> Schema {
    let all = nexmark_schema();
    let fields: Vec<Field> = (all.fields().iter())
        .filter_map(|field| {
            let wanted = table.field_with_name(field.name()).ok()?;
            Some(match (field.data_type(), wanted.data_type()) {
                (DataType::Struct(made), DataType::Struct(read)) => {
                    let kept = made.iter().filter(|f| read.find(f.name()).is_some());
                    let kept = DataType::Struct(kept.cloned().collect());
                    field.as_ref().clone().with_data_type(kept)
                }
                _ => field.as_ref().clone(),
            })
        })
        .collect();
    Schema::new(fields)
}

/// A value of an event's field.
enum Value<'a> {
    Int(i64),
    Text(&'a str),
    Time(i64),
}

/// A builder of one nested row column (`person`, `auction` or `bid`), with the fields the table
/// reads.
struct RowColumn {
    fields: Fields,
    /// The place of each field built among the event's values.
    kept: Vec<usize>,
    valid: NullBufferBuilder,
    columns: Vec<FieldColumn>,
}

enum FieldColumn {
    Int(Int64Builder),
    Text(StringBuilder),
    Time(TimestampMillisecondBuilder),
}

impl RowColumn {
    /// A builder of the fields of `kinds` that `wanted` names.
    fn new(kinds: &[(&str, Kind)], wanted: &Fields, capacity: usize) -> Self {
        let kept: Vec<usize> = (0..kinds.len())
            .filter(|i| wanted.find(kinds[*i].0).is_some())
            .collect();
        let kinds: Vec<(&str, Kind)> = kept.iter().map(|i| kinds[*i]).collect();
        let columns = (kinds.iter())
            .map(|(_, kind)| match kind {
                Kind::Int => FieldColumn::Int(Int64Builder::with_capacity(capacity)),
                Kind::Text => FieldColumn::Text(StringBuilder::with_capacity(capacity, 0)),
                Kind::Time => {
                    FieldColumn::Time(TimestampMillisecondBuilder::with_capacity(capacity))
                }
            })
            .collect();
        RowColumn {
            fields: fields(&kinds),
            kept,
            valid: NullBufferBuilder::new(capacity),
            columns,
        }
    }

    /// Adds a row of an event's `values`, all of its fields in order.
    fn push(&mut self, values: &[Value]) {
        self.valid.append_non_null();
        for (column, value) in self.columns.iter_mut().zip(&self.kept) {
            match (column, &values[*value]) {
                (FieldColumn::Int(b), Value::Int(v)) => b.append_value(*v),
                (FieldColumn::Text(b), Value::Text(v)) => b.append_value(v),
                (FieldColumn::Time(b), Value::Time(v)) => b.append_value(*v),
                _ => unreachable!("the values follow the fields"),
            }
        }
    }

    fn push_null(&mut self) {
        self.valid.append_null();
        for column in &mut self.columns {
            match column {
                FieldColumn::Int(b) => b.append_null(),
                FieldColumn::Text(b) => b.append_null(),
                FieldColumn::Time(b) => b.append_null(),
            }
        }
    }

    fn finish(&mut self) -> ArrayRef {
        let columns = self
            .columns
            .iter_mut()
            .map(|column| match column {
                FieldColumn::Int(b) => Arc::new(b.finish()) as ArrayRef,
                FieldColumn::Text(b) => Arc::new(b.finish()),
                FieldColumn::Time(b) => Arc::new(b.finish()),
            })
            .collect();
        Arc::new(StructArray::new(
            self.fields.clone(),
            columns,
            self.valid.finish(),
        ))
    }
}

/// Builds batches of events in the generator's columns that the table reads.
struct EventColumns {
    event_type: Option<Int32Builder>,
    /// `person`, `auction` and `bid`, each if read.
    rows: [Option<RowColumn>; 3],
}

impl EventColumns {
    /// Builders of the columns of `generated` ([`nexmark_schema`] or part of it).
    fn new(generated: &Schema, capacity: usize) -> Self {
        let event_type = (generated.field_with_name("event_type").ok())
            .map(|_| Int32Builder::with_capacity(capacity));
        let row = |name: &str, kinds: &[(&str, Kind)]| {
            let field = generated.field_with_name(name).ok()?;
            let DataType::Struct(wanted) = field.data_type() else {
                unreachable!("the generator's rows are structs")
            };
            Some(RowColumn::new(kinds, wanted, capacity))
        };
        EventColumns {
            event_type,
            rows: [
                row("person", &PERSON),
                row("auction", &AUCTION),
                row("bid", &BID),
            ],
        }
    }

    fn push(&mut self, event: &Event) {
        use Value::{Int, Text, Time};
        let kind = match event {
            Event::Person(_) => 0,
            Event::Auction(_) => 1,
            Event::Bid(_) => 2,
        };
        if let Some(event_type) = &mut self.event_type {
            event_type.append_value(kind as i32);
        }
        for (row, of) in self.rows.iter_mut().enumerate() {
            let Some(column) = of else { continue };
            if row != kind {
                column.push_null();
                continue;
            }
            match event {
                Event::Person(p) => column.push(&[
                    Int(p.id as i64),
                    Text(&p.name),
                    Text(&p.email_address),
                    Text(&p.credit_card),
                    Text(&p.city),
                    Text(&p.state),
                    Time(p.date_time as i64),
                    Text(&p.extra),
                ]),
                Event::Auction(a) => column.push(&[
                    Int(a.id as i64),
                    Text(&a.item_name),
                    Text(&a.description),
                    Int(a.initial_bid as i64),
                    Int(a.reserve as i64),
                    Time(a.date_time as i64),
                    Time(a.expires as i64),
                    Int(a.seller as i64),
                    Int(a.category as i64),
                    Text(&a.extra),
                ]),
                Event::Bid(b) => column.push(&[
                    Int(b.auction as i64),
                    Int(b.bidder as i64),
                    Int(b.price as i64),
                    Text(&b.channel),
                    Text(&b.url),
                    Time(b.date_time as i64),
                    Text(&b.extra),
                ]),
            }
        }
    }

    /// The events pushed since the last call, in the columns of `generated` it was made for.
    fn finish(&mut self, generated: &SchemaRef) -> Result<RecordBatch> {
        let event_type = (self.event_type.as_mut()).map(|b| Arc::new(b.finish()) as ArrayRef);
        let rows = self.rows.iter_mut().flatten().map(RowColumn::finish);
        let columns = event_type.into_iter().chain(rows).collect();
        Ok(RecordBatch::try_new(generated.clone(), columns)?)
    }
}

/// Events `start..start + rows` in the generator's columns, with the last one's time.
fn generate(
    config: &NexmarkConfig,
    start: u64,
    rows: u64,
    schema: &SchemaRef,
) -> Result<(RecordBatch, u64)> {
    let mut columns = EventColumns::new(schema, rows as usize);
    let mut last_time = 0;
    for event in EventGenerator::new(config.clone())
        .with_offset(start)
        .take(rows as usize)
    {
        last_time = event.timestamp();
        columns.push(&event);
    }
    Ok((columns.finish(schema)?, last_time))
}

/// `array` as the declared `to` type: a nested row keeps the fields `to` names (in its
/// order), other values are cast.
fn conform(array: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    match (array.data_type(), to) {
        (DataType::Struct(_), DataType::Struct(wanted)) => {
            let row = array
                .as_any()
                .downcast_ref::<StructArray>()
                .expect("a struct array");
            let columns = wanted
                .iter()
                .map(|field| {
                    let column = row.column_by_name(field.name()).ok_or_else(|| {
                        EngineError::Other(format!(
                            "the nexmark connector has no field '{}'",
                            field.name()
                        ))
                    })?;
                    conform(column, field.data_type())
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Arc::new(StructArray::try_new(
                wanted.clone(),
                columns,
                row.nulls().cloned(),
            )?))
        }
        (from, to) if from == to => Ok(array.clone()),
        _ => Ok(arrow::compute::cast(array, to)?),
    }
}

/// The generator's `batch` in the columns `schema` of the table.
fn table_columns(schema: &SchemaRef, batch: &RecordBatch) -> Result<RecordBatch> {
    let columns = (schema.fields().iter())
        .map(|field| {
            let column = batch.column_by_name(field.name()).ok_or_else(|| {
                EngineError::Other(format!(
                    "the nexmark connector has no column '{}': it makes event_type, \
                     person, auction and bid",
                    field.name()
                ))
            })?;
            conform(column, field.data_type())
                .map_err(|e| EngineError::Other(format!("column '{}': {e}", field.name())))
        })
        .collect::<Result<Vec<_>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    Ok(RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &options,
    )?)
}

/// Where a nexmark source is, for checkpoints.
#[derive(Debug, Serialize, Deserialize)]
struct Progress {
    /// Events sent so far.
    offset: u64,
    /// The first event's time: a restored job makes the same events.
    base_time: i64,
    watermark: Watermark,
    sent_watermark: Watermark,
}

/// A source of Nexmark events, in the columns of the table that declares it.
pub struct NexmarkSource {
    name: String,
    settings: NexmarkSettings,
    base_time: i64,
    /// The generator's columns made, and the table's (the same columns and fields, maybe of
    /// other types).
    generated: SchemaRef,
    schema: SchemaRef,
    batch_size: usize,
    offset: u64,
    emitter: Emitter,
}

impl NexmarkSource {
    /// A source for the table `name` whose columns made are `schema` (its stored columns, or
    /// those of them a statement reads, when `shape` puts back the others); fails when a
    /// stored column is not one the generator makes.
    pub fn new(
        name: impl Into<String>,
        settings: NexmarkSettings,
        schema: SchemaRef,
        shape: RowShape,
        watermarks: Option<WatermarkAssigner>,
        batch_size: usize,
    ) -> Result<Self> {
        // The table's columns are checked on an empty batch, before the job starts.
        let all = Arc::new(nexmark_schema());
        let stored = shape.stored.as_ref().unwrap_or(&schema);
        table_columns(stored, &EventColumns::new(&all, 0).finish(&all)?)?;
        let name = name.into();
        let base_time = settings.base_time.unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            now.map_or(0, |d| d.as_millis() as i64)
        });
        Ok(NexmarkSource {
            emitter: Emitter::new(&name, shape, watermarks),
            name,
            settings,
            base_time,
            generated: Arc::new(generated_for(&schema)),
            schema,
            batch_size: batch_size.max(1),
            offset: 0,
        })
    }

    fn progress(&self) -> Progress {
        Progress {
            offset: self.offset,
            base_time: self.base_time,
            watermark: self.emitter.watermark(),
            sent_watermark: self.emitter.sent_watermark,
        }
    }
}

impl Source for NexmarkSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn run(mut self: Box<Self>, mut ctx: SourceContext) -> Result<()> {
        let config = self.settings.config(self.base_time);
        // Events are independent (each is made from its number), so batches are made on
        // every core, a few ahead of the one sent, and sent in order.
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let end = self.settings.events.unwrap_or(u64::MAX);
        let size = self.batch_size as u64;
        let starts = (self.offset..end).step_by(self.batch_size).map(Ok);
        let (generated, schema, stage) = (
            self.generated.clone(),
            self.schema.clone(),
            self.emitter.stage(),
        );
        let make = |_: &mut (), start: u64| {
            let (batch, last_time) = generate(&config, start, (end - start).min(size), &generated)?;
            let rows = batch.num_rows() as u64;
            Ok((
                stage.early(table_columns(&schema, &batch)?)?,
                rows,
                last_time,
            ))
        };
        // With `rate.limited`, event time and the wall clock advance together from here.
        let mut pace: Option<(Instant, u64)> = None;
        let sent = |(batch, rows, last_time): (Rows, u64, u64)| {
            if self.settings.rate_limited {
                let (start, first) = *pace.get_or_insert((Instant::now(), last_time));
                let due = start + Duration::from_millis(last_time.saturating_sub(first));
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
            self.offset += rows;
            Ok(self.emitter.emit(batch, &ctx)? && ctx.barrier(|| self.snapshot())?)
        };
        if !in_order(
            workers,
            2 * workers,
            "generating events",
            starts,
            &make,
            sent,
        )? {
            return Ok(());
        }
        if !ctx.output.blocking_send(Message::Watermark(MAX_WATERMARK)) {
            return Ok(());
        }
        ctx.end(|| self.snapshot())
    }

    fn snapshot(&self) -> Result<State> {
        let mut state = State::new();
        state.put("progress", &self.progress())?;
        self.emitter.snapshot(&mut state)?;
        Ok(state)
    }

    fn restore(&mut self, state: &State) -> Result<()> {
        let at: Progress = state.get("progress")?;
        self.offset = at.offset;
        self.base_time = at.base_time;
        self.emitter
            .restore(at.watermark, at.sent_watermark, state)?;
        Ok(())
    }

    fn fuse(&mut self, calc: Calc) -> std::result::Result<(), Calc> {
        self.emitter.fuse(calc);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::AsArray;

    use super::*;

    #[test]
    fn only_the_columns_and_fields_a_table_reads_are_made_with_the_same_values() {
        let config = NexmarkSettings::default().config(1_700_000_000_000);
        let all: SchemaRef = Arc::new(nexmark_schema());
        let (full, last) = generate(&config, 1000, 200, &all).unwrap();
        // Fields in another order, and no event_type, person or auction.
        let bid = Fields::from(vec![
            Field::new("price", DataType::Int64, true),
            Field::new("url", DataType::Utf8, true),
        ]);
        let table = Schema::new(vec![Field::new("bid", DataType::Struct(bid), true)]);
        let generated: SchemaRef = Arc::new(generated_for(&table));
        let (narrow, narrow_last) = generate(&config, 1000, 200, &generated).unwrap();
        assert_eq!(narrow_last, last);
        let made: Vec<&str> = match generated.field(0).data_type() {
            DataType::Struct(fields) => fields.iter().map(|f| f.name().as_str()).collect(),
            other => panic!("{other}"),
        };
        assert_eq!(generated.fields().len(), 1);
        assert_eq!(made, ["price", "url"]);
        let (full_bid, narrow_bid) = (
            full.column_by_name("bid").unwrap().as_struct(),
            narrow.column(0).as_struct(),
        );
        assert_eq!(narrow_bid.nulls(), full_bid.nulls());
        assert!(narrow_bid.null_count() > 0 && narrow_bid.null_count() < 200);
        for name in made {
            assert_eq!(
                narrow_bid.column_by_name(name).unwrap(),
                full_bid.column_by_name(name).unwrap(),
                "{name}"
            );
        }
    }
}
