//! Python's `repr()` of the values that travel in RPC messages, for exception reprs and
//! `ParametersError` messages that read exactly as a Python peer writes them.

use std::fmt::Write;

use super::value::Value;

/// Python's `repr(s)` of a `str`: single quotes unless the text holds a `'` and no `"`.
pub fn repr_str(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if is_printable(c) => out.push(c),
            c => {
                let n = c as u32;
                if n < 0x100 {
                    let _ = write!(out, "\\x{n:02x}");
                } else if n < 0x10000 {
                    let _ = write!(out, "\\u{n:04x}");
                } else {
                    let _ = write!(out, "\\U{n:08x}");
                }
            }
        }
    }
    out.push(quote);
    out
}

/// An approximation of `str.isprintable()` for one character: control characters, the
/// Unicode separators other than the ASCII space and the common format characters are
/// not printable.
fn is_printable(c: char) -> bool {
    let n = c as u32;
    if n < 0x20 || (0x7f..0xa1).contains(&n) || n == 0xad {
        return false;
    }
    !matches!(
        n,
        0x1680
            | 0x2000..=0x200f
            | 0x2028..=0x202f
            | 0x205f..=0x206f
            | 0x3000
            | 0xd800..=0xdfff
            | 0xe000..=0xf8ff
            | 0xfeff
            | 0xfff9..=0xfffb
            | 0xf0000..
    )
}

/// Python's `repr(b)` of a `bytes` value: `b'...'`.
pub fn repr_bytes(b: &[u8]) -> String {
    let quote = if b.contains(&b'\'') && !b.contains(&b'"') {
        b'"'
    } else {
        b'\''
    };
    let mut out = String::with_capacity(b.len() + 3);
    out.push('b');
    out.push(quote as char);
    for &c in b {
        match c {
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c as char);
            }
            0x20..=0x7e => out.push(c as char),
            c => {
                let _ = write!(out, "\\x{c:02x}");
            }
        }
    }
    out.push(quote as char);
    out
}

/// Python's `repr(f)` of a `float`: the shortest digits that round-trip, in scientific
/// notation when the decimal exponent is below -4 or at least 16.
pub fn repr_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    // Rust's `{:e}` gives the shortest round-trip digits: "1.2345e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("exponent is an integer");
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let sign = if negative { "-" } else { "" };
    if !(-4..16).contains(&exp) {
        let mut m = digits[..1].to_string();
        if digits.len() > 1 {
            m.push('.');
            m.push_str(&digits[1..]);
        }
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{m}e{esign}{:02}", exp.abs());
    }
    let point = exp + 1; // digits before the decimal point
    let body = if point <= 0 {
        format!("0.{}{}", "0".repeat((-point) as usize), digits)
    } else if point as usize >= digits.len() {
        format!("{}{}.0", digits, "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    };
    format!("{sign}{body}")
}

/// Python's `repr()` of a value as a Python peer would see it after unpacking (arrays are
/// tuples, maps dicts, the predefined ext types `datetime` objects).
pub fn repr_value(v: &Value) -> String {
    let mut s = String::new();
    write_value(&mut s, v);
    s
}

fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Nil => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => out.push_str(&repr_float(*f)),
        Value::Str(s) => out.push_str(&repr_str(s)),
        Value::Bin(b) => out.push_str(&repr_bytes(b)),
        Value::Array(items) => {
            out.push('(');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, item);
            }
            if items.len() == 1 {
                out.push(',');
            }
            out.push(')');
        }
        Value::Map(pairs) => {
            out.push('{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(out, k);
                out.push_str(": ");
                write_value(out, v);
            }
            out.push('}');
        }
        Value::Ext(code, data) => {
            let _ = write!(out, "ExtType(code={code}, data={})", repr_bytes(data));
        }
        Value::Date(d) => out.push_str(&super::datetime::repr_date(d)),
        Value::DateTime(d) => out.push_str(&d.python_repr()),
        Value::Time(t) => out.push_str(&t.python_repr()),
        Value::TimeDelta(d) => out.push_str(&super::datetime::repr_timedelta(d)),
        Value::Timezone(z) => out.push_str(&z.python_repr()),
        // A translated object's repr is its Debug form (`Point(1, 2)` for a derived tuple
        // struct, as Python's usual `__repr__`).
        Value::Object(o) => {
            let _ = write!(out, "{o:?}");
        }
    }
}

/// Python's `repr()` of an exception of type `name` (the class name, without module)
/// built from `args`: `Name()`, `Name(arg)` or `Name(arg1, arg2, ...)`.
pub fn repr_exception(name: &str, args: &[Value]) -> String {
    let mut out = String::with_capacity(name.len() + 16);
    out.push_str(name);
    out.push('(');
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_value(&mut out, a);
    }
    out.push(')');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_quote_like_python() {
        assert_eq!(repr_str("nope"), "'nope'");
        assert_eq!(
            repr_str("TypeError('too many positional arguments')"),
            "\"TypeError('too many positional arguments')\""
        );
        assert_eq!(repr_str("a'b\"c"), "'a\\'b\"c'");
        assert_eq!(repr_str("é\u{0}\n"), "'é\\x00\\n'");
    }

    #[test]
    fn floats_like_python() {
        for (f, s) in [
            (1.5, "1.5"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5e-7, "-2.5e-07"),
            (123.456, "123.456"),
            (3.0, "3.0"),
            (f64::MAX, "1.7976931348623157e+308"),
        ] {
            assert_eq!(repr_float(f), s, "{f}");
        }
    }

    #[test]
    fn exceptions_like_python() {
        assert_eq!(
            repr_exception("KeyError", &[Value::from("x")]),
            "KeyError('x')"
        );
        assert_eq!(repr_exception("ValueError", &[]), "ValueError()");
        assert_eq!(
            repr_exception("E", &[Value::Int(1), Value::Array(vec![Value::Int(2)])]),
            "E(1, (2,))"
        );
        assert_eq!(repr_bytes(b"a'\x00"), "b\"a'\\x00\"");
    }
}
