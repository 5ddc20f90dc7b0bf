//! Validation that finds every issue, in `validation.py`'s order: the error path (the success
//! path is [`write`](super::write), which stops at the first problem).

use std::cmp::Ordering;

use super::issues::{Bound, Issue, IssueKind, JsType, Size};
use super::json::{Members, Value};
use super::object::Object;
use super::schema::{as_num, cmp_num, Check, Externals, Len, Num, ObjectSchema, StrCheck};

/// Collects issues, tracking the path of the value being checked.
pub(super) struct Collector<'s, 'a, 'h> {
    path: Vec<&'s str>,
    pub(super) issues: Vec<Issue>,
    pub(super) externals: Externals<'a, 'h>,
}

impl<'s, 'a, 'h> Collector<'s, 'a, 'h> {
    pub(super) fn new(externals: Externals<'a, 'h>) -> Self {
        Collector {
            path: Vec::new(),
            issues: Vec::new(),
            externals,
        }
    }

    fn push(&mut self, kind: IssueKind) {
        let path = self.path.iter().map(|p| (*p).to_owned()).collect();
        self.issues.push(Issue { path, kind });
    }

    fn type_issue(&mut self, expected: &str, value: &Value<'_>) {
        self.push(IssueKind::InvalidType {
            expected: expected.to_owned(),
            received: js_type(value),
        });
    }

    /// `check_object` of the top level: `parameters` may be any JSON value.
    pub(super) fn parameters(&mut self, schema: &'s ObjectSchema, value: &Value<'_>) {
        match value {
            Value::Object(members) => self.object(schema, members),
            _ => self.type_issue("object", value),
        }
    }

    fn object(&mut self, schema: &'s ObjectSchema, members: &Members<'_>) {
        self.object_from(schema, members, 0);
    }

    /// The issues of the fields of `schema` from `start` on, in `members` (the top level, whose
    /// fields before `start` the success path found valid).
    pub(super) fn object_from(
        &mut self,
        schema: &'s ObjectSchema,
        members: &Members<'_>,
        start: usize,
    ) {
        let input = Object::new(members);
        for field in schema.fields.get(start..).unwrap_or_default() {
            self.path.push(&field.name);
            match input.get(&field.name) {
                None if field.required => self.push(IssueKind::Required {
                    expected: field.expected.to_string(),
                }),
                None => {}
                Some(value) => self.check(&field.check, value),
            }
            self.path.pop();
        }
    }

    fn check(&mut self, check: &'s Check, value: &Value<'_>) {
        match (check, value) {
            (Check::Any, _) => {}
            (Check::Str(StrCheck::Enum(e)), Value::Str(s)) => {
                if !e.set.contains(s.as_str()) {
                    self.push(IssueKind::InvalidEnumValue {
                        received: s.as_str().to_owned(),
                        options: e.options.iter().map(|o| o.to_string()).collect(),
                    });
                }
            }
            (Check::Str(StrCheck::Enum(e)), _) => self.type_issue(&e.listing, value),
            (Check::Str(StrCheck::Plain { min, max, pattern }), Value::Str(s)) => {
                let n = s.chars().count() as u64;
                self.sizes(Size::String, n, min, max);
                if let Some(pattern) = pattern {
                    if !pattern.matches(s, &mut self.externals) {
                        self.push(IssueKind::Regex);
                    }
                }
            }
            (Check::Str(_), _) => self.type_issue("string", value),
            (Check::Num { integer, min, max }, Value::Number(_)) => {
                // Out-of-range literals are refused by the parser before validation.
                let Some(n) = as_num(value) else {
                    self.externals.undecided = true;
                    return;
                };
                if *integer && matches!(n, Num::Float(f) if f.fract() != 0.0) {
                    self.push(IssueKind::NotAnInteger);
                    return;
                }
                if let Some(m) = min.filter(|m| cmp_num(n, *m) == Ordering::Less) {
                    let bound = Bound::from(m);
                    self.push(IssueKind::TooSmall {
                        size: Size::Number,
                        bound,
                    });
                }
                if let Some(m) = max.filter(|m| cmp_num(n, *m) == Ordering::Greater) {
                    let bound = Bound::from(m);
                    self.push(IssueKind::TooBig {
                        size: Size::Number,
                        bound,
                    });
                }
            }
            // Integers too: Python's `check_number` reports `expected: "number"` for both.
            (Check::Num { .. }, _) => self.type_issue("number", value),
            (Check::Bool, Value::Bool(_)) => {}
            (Check::Bool, _) => self.type_issue("boolean", value),
            (Check::Array { min, max }, Value::Array(items)) => {
                self.sizes(Size::Array, items.len() as u64, min, max);
            }
            (Check::Array { .. }, _) => self.type_issue("array", value),
            (Check::AnyObject, Value::Object(_)) => {}
            (Check::Object(schema), Value::Object(members)) => self.object(schema, members),
            (Check::AnyObject | Check::Object(_), _) => self.type_issue("object", value),
        }
    }

    fn sizes(&mut self, size: Size, n: u64, min: &Option<Len>, max: &Option<Len>) {
        if let Some(m) = min.as_ref().filter(|m| n < m.value) {
            let bound = Bound::Int(m.text.to_string());
            self.push(IssueKind::TooSmall { size, bound });
        }
        if let Some(m) = max.as_ref().filter(|m| n > m.value) {
            let bound = Bound::Int(m.text.to_string());
            self.push(IssueKind::TooBig { size, bound });
        }
    }
}

/// `js_type`: the `received` of a type issue.
fn js_type(value: &Value<'_>) -> JsType {
    match value {
        Value::Null => JsType::Null,
        Value::Bool(_) => JsType::Boolean,
        Value::Number(_) => JsType::Number,
        Value::Str(_) => JsType::String,
        Value::Array(_) => JsType::Array,
        Value::Object(_) => JsType::Object,
    }
}
