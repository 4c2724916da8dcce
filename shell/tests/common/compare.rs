//! Comparing rill's CSV output with the Flink oracle's: byte for byte, except floats, which
//! may differ in the last bits (sums in another order).

/// Whether two CSV fields are equal: as text, or as floats within a relative 1e-9.
fn same_field(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) if a.contains(['.', 'e']) || b.contains(['.', 'e']) => {
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
        }
        _ => false,
    }
}

/// The first difference between actual and expected output, if any.
pub fn difference(actual: &str, expected: &str) -> Option<String> {
    let (a, e): (Vec<&str>, Vec<&str>) = (actual.lines().collect(), expected.lines().collect());
    for (i, (x, y)) in a.iter().zip(&e).enumerate() {
        let same = x == y || {
            let (xs, ys): (Vec<&str>, Vec<&str>) = (x.split(',').collect(), y.split(',').collect());
            xs.len() == ys.len() && xs.iter().zip(&ys).all(|(p, q)| same_field(p, q))
        };
        if !same {
            return Some(format!("line {}:\n  rill:   {x}\n  oracle: {y}", i + 1));
        }
    }
    (a.len() != e.len()).then(|| format!("rill wrote {} lines, the oracle {}", a.len(), e.len()))
}
