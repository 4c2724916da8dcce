//! `JSON_ARRAYAGG(value [NULL|ABSENT ON NULL])` and `JSON_OBJECTAGG([KEY] k VALUE v [NULL|ABSENT
//! ON NULL])`, as Flink has them: an array of the values by arrival (NULLs left out by
//! default), an object of the keys in their order (NULL values kept by default; a repeated key
//! is an error). Over a changelog a retraction takes back the earliest arrival of its value,
//! or its key, as Flink's `JsonArrayAggFunction` and `JsonObjectAggFunction` do.
//!
//! The parser makes calls `rill_json_arrayagg(value, mode)` and
//! `rill_json_objectagg(key, value, mode)` of them, the mode as `json_object` takes it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, ListBuilder, StringBuilder};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion_common::{Result, ScalarValue, exec_err, plan_err};
use datafusion_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion_expr::utils::format_state_name;
use datafusion_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature, Volatility};

use super::json::{constructor_mode, write_json};
use rill_engine::format::push_json_string;

/// The two aggregates.
pub fn functions() -> Vec<AggregateUDF> {
    [false, true]
        .map(|object| {
            AggregateUDF::new_from_impl(JsonAgg {
                object,
                signature: Signature::any(if object { 3 } else { 2 }, Volatility::Immutable),
            })
        })
        .into()
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonAgg {
    object: bool,
    signature: Signature,
}

impl AggregateUDFImpl for JsonAgg {
    fn name(&self) -> &str {
        match self.object {
            true => "rill_json_objectagg",
            false => "rill_json_arrayagg",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        if self.object && !matches!(arg_types[0], DataType::Utf8 | DataType::Utf8View) {
            return plan_err!("JSON_OBJECTAGG takes a STRING key, not {}", arg_types[0]);
        }
        Ok(DataType::Utf8)
    }

    fn accumulator(&self, _: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(match self.object {
            true => Box::new(ObjectAgg::default()),
            false => Box::new(ArrayAgg::default()),
        })
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        let texts = DataType::new_list(DataType::Utf8, true);
        let name = format_state_name(args.name, "texts");
        Ok(vec![Arc::new(Field::new(name, texts, true))])
    }
}

/// The JSON text of each row of `values`: `None` for a NULL left out (`ABSENT ON NULL`).
/// `mode` is the aggregate's last argument.
fn texts(values: &ArrayRef, mode: &ArrayRef) -> Result<Vec<Option<Box<str>>>> {
    let (absent, raw) = constructor_mode(std::slice::from_ref(mode))?;
    let raw = raw.first().copied().unwrap_or(false);
    let mut text = String::new();
    (0..values.len())
        .map(|i| {
            text.clear();
            match values.is_null(i) {
                true if absent => return Ok(None),
                true => text.push_str("null"),
                false => write_json(values, i, raw, &mut text)?,
            }
            Ok(Some(text.as_str().into()))
        })
        .collect()
}

/// The state: texts as one list (an array's values by arrival; an object's keys and values
/// in turn).
fn state_of<'a>(texts: impl Iterator<Item = &'a str>) -> ScalarValue {
    let mut list = ListBuilder::new(StringBuilder::new());
    texts.for_each(|t| list.values().append_value(t));
    list.append(true);
    ScalarValue::List(Arc::new(list.finish()))
}

/// Calls `f` with each text of the states `states` (restoring into an empty accumulator).
fn each_state_text(states: &[ArrayRef], mut f: impl FnMut(&str) -> Result<()>) -> Result<()> {
    let list = states[0].as_list::<i32>();
    for row in (0..list.len()).filter(|&r| list.is_valid(r)) {
        let texts = list.value(row);
        for text in texts.as_string::<i32>().iter().flatten() {
            f(text)?;
        }
    }
    Ok(())
}

/// `JSON_ARRAYAGG`'s state: the values' JSON texts by arrival.
#[derive(Debug, Default)]
struct ArrayAgg {
    by_arrival: BTreeMap<u64, Box<str>>,
    arrivals: HashMap<Box<str>, VecDeque<u64>>,
    next: u64,
}

impl ArrayAgg {
    fn push(&mut self, text: Box<str>) {
        self.arrivals
            .entry(text.clone())
            .or_default()
            .push_back(self.next);
        self.by_arrival.insert(self.next, text);
        self.next += 1;
    }
}

impl Accumulator for ArrayAgg {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for text in texts(&values[0], &values[1])?.into_iter().flatten() {
            self.push(text);
        }
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for text in texts(&values[0], &values[1])?.into_iter().flatten() {
            if let Some(times) = self.arrivals.get_mut(&text) {
                if let Some(arrival) = times.pop_front() {
                    self.by_arrival.remove(&arrival);
                }
                if times.is_empty() {
                    self.arrivals.remove(&text);
                }
            }
        }
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let texts: Vec<&str> = self.by_arrival.values().map(|t| t.as_ref()).collect();
        Ok(ScalarValue::Utf8(Some(format!("[{}]", texts.join(",")))))
    }

    fn size(&self) -> usize {
        size_of::<Self>()
            + self
                .by_arrival
                .values()
                .map(|t| 2 * t.len() + 64)
                .sum::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![state_of(self.by_arrival.values().map(|t| t.as_ref()))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        each_state_text(states, |text| {
            self.push(text.into());
            Ok(())
        })
    }
}

/// `JSON_OBJECTAGG`'s state: each key's value as JSON text, in the keys' order.
#[derive(Debug, Default)]
struct ObjectAgg {
    entries: BTreeMap<Box<str>, Box<str>>,
}

impl ObjectAgg {
    fn insert(&mut self, key: &str, value: Box<str>) -> Result<()> {
        if self.entries.contains_key(key) {
            return exec_err!(
                "Key '{key}' is already present. Duplicate keys are not allowed in \
                 JSON_OBJECTAGG. Please ensure that keys are unique."
            );
        }
        self.entries.insert(key.into(), value);
        Ok(())
    }
}

/// Row `i` of the keys `keys`, which must not be NULL.
fn key_at(keys: &arrow::array::StringArray, i: usize) -> Result<&str> {
    match keys.is_null(i) {
        true => exec_err!("JSON_OBJECTAGG: a key is NULL"),
        false => Ok(keys.value(i)),
    }
}

impl Accumulator for ObjectAgg {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let keys = arrow::compute::cast(&values[0], &DataType::Utf8)?;
        let keys = keys.as_string::<i32>();
        for (i, text) in texts(&values[1], &values[2])?.into_iter().enumerate() {
            let key = key_at(keys, i)?;
            if let Some(text) = text {
                self.insert(key, text)?;
            }
        }
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let keys = arrow::compute::cast(&values[0], &DataType::Utf8)?;
        let keys = keys.as_string::<i32>();
        for i in 0..keys.len() {
            self.entries.remove(key_at(keys, i)?);
        }
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let mut text = String::from("{");
        for (n, (key, value)) in self.entries.iter().enumerate() {
            if n > 0 {
                text.push(',');
            }
            push_json_string(&mut text, key);
            text.push(':');
            text.push_str(value);
        }
        text.push('}');
        Ok(ScalarValue::Utf8(Some(text)))
    }

    fn size(&self) -> usize {
        let entries: usize = (self.entries.iter())
            .map(|(k, v)| k.len() + v.len() + 64)
            .sum();
        size_of::<Self>() + entries
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let texts = (self.entries.iter()).flat_map(|(k, v)| [k.as_ref(), v.as_ref()]);
        Ok(vec![state_of(texts)])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let mut key: Option<String> = None;
        each_state_text(states, |text| match key.take() {
            None => {
                key = Some(text.to_string());
                Ok(())
            }
            Some(k) => self.insert(&k, text.into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int64Array, StringArray};

    use super::*;

    fn column(values: &[Option<&str>]) -> ArrayRef {
        Arc::new(StringArray::from(values.to_vec()))
    }

    fn mode(text: &str, rows: usize) -> ArrayRef {
        Arc::new(StringArray::from(vec![text; rows]))
    }

    /// `acc`'s answer, and the answer of a fresh accumulator given its state (a checkpoint).
    fn answers(acc: &mut dyn Accumulator, fresh: &mut dyn Accumulator) -> (String, String) {
        let state: Vec<ArrayRef> = (acc.state().unwrap().iter())
            .map(|v| v.to_array().unwrap())
            .collect();
        fresh.merge_batch(&state).unwrap();
        let text = |a: &mut dyn Accumulator| a.evaluate().unwrap().to_string();
        (text(acc), text(fresh))
    }

    #[test]
    fn arrays_keep_arrivals_and_retract_the_earliest_equal_value() {
        let values = column(&[Some("a"), None, Some("b"), Some("a")]);
        let mut acc = ArrayAgg::default();
        acc.update_batch(&[values.clone(), mode("NULL:0", 4)])
            .unwrap();
        acc.retract_batch(&[column(&[Some("a")]), mode("NULL:0", 1)])
            .unwrap();
        let (answer, restored) = answers(&mut acc, &mut ArrayAgg::default());
        assert_eq!(answer, r#"[null,"b","a"]"#);
        assert_eq!(restored, answer);
        let mut absent = ArrayAgg::default();
        absent.update_batch(&[values, mode("ABSENT:0", 4)]).unwrap();
        assert_eq!(absent.evaluate().unwrap().to_string(), r#"["a","b","a"]"#);
    }

    #[test]
    fn objects_sort_their_keys_and_refuse_a_key_twice() {
        let keys = column(&[Some("b"), Some("a"), Some("c")]);
        let values: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(2), None]));
        let mut acc = ObjectAgg::default();
        acc.update_batch(&[keys.clone(), values.clone(), mode("NULL:0", 3)])
            .unwrap();
        let (answer, restored) = answers(&mut acc, &mut ObjectAgg::default());
        assert_eq!(answer, r#"{"a":2,"b":1,"c":null}"#);
        assert_eq!(restored, answer);
        let again =
            acc.update_batch(&[column(&[Some("a")]), values.slice(0, 1), mode("NULL:0", 1)]);
        assert!(
            again
                .unwrap_err()
                .to_string()
                .contains("Key 'a' is already present")
        );
        acc.retract_batch(&[column(&[Some("a")]), values.slice(1, 1), mode("NULL:0", 1)])
            .unwrap();
        assert_eq!(acc.evaluate().unwrap().to_string(), r#"{"b":1,"c":null}"#);
    }
}
