//! The EC2 response writer: `<{Action}Response xmlns=…><requestId>…</requestId>…`, lists as
//! `<xxxSet><item>…</item></xxxSet>`, and the `<Response><Errors>…` error document.
//!
//! Element names are this crate's constants; every text (names, tags, messages, anything a
//! client or the host supplied) goes through [`text`]: characters XML 1.0 cannot carry are
//! replaced with U+FFFD and the rest is escaped by `quick_xml::escape::escape`.

use std::borrow::Cow;
use std::fmt::Display;

/// The namespace of API version 2016-11-15.
pub const XMLNS: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";
const DECLARATION: &str = r#"<?xml version="1.0" encoding="UTF-8"?>"#;

/// Whether XML 1.0 allows `c` in character data.
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// `s` as XML character data.
pub fn text(s: &str) -> Cow<'_, str> {
    if s.chars().all(xml_char) {
        quick_xml::escape::escape(s)
    } else {
        let clean: String = s
            .chars()
            .map(|c| if xml_char(c) { c } else { '\u{FFFD}' })
            .collect();
        Cow::Owned(quick_xml::escape::escape(clean.as_str()).into_owned())
    }
}

/// An XML fragment under construction. Tags are `&'static str`: only texts vary.
#[derive(Default)]
pub struct Xml {
    buf: String,
}

impl Xml {
    pub fn new() -> Xml {
        Xml::default()
    }

    pub fn open(&mut self, tag: &str) -> &mut Xml {
        self.buf.push('<');
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }

    pub fn close(&mut self, tag: &str) -> &mut Xml {
        self.buf.push_str("</");
        self.buf.push_str(tag);
        self.buf.push('>');
        self
    }

    /// `<tag>text</tag>`, escaped.
    pub fn leaf(&mut self, tag: &str, value: &str) -> &mut Xml {
        self.open(tag);
        self.buf.push_str(&text(value));
        self.close(tag)
    }

    /// Escaped character data at the current position.
    pub fn text(&mut self, value: &str) -> &mut Xml {
        self.buf.push_str(&text(value));
        self
    }

    /// `<tag>n</tag>` for numbers.
    pub fn num(&mut self, tag: &str, value: impl Display) -> &mut Xml {
        self.leaf(tag, &value.to_string())
    }

    /// `<tag>true|false</tag>`.
    pub fn boolean(&mut self, tag: &str, value: bool) -> &mut Xml {
        self.leaf(tag, if value { "true" } else { "false" })
    }

    /// `<tag>…</tag>` around what `f` writes.
    pub fn elem(&mut self, tag: &str, f: impl FnOnce(&mut Xml)) -> &mut Xml {
        self.open(tag);
        f(self);
        self.close(tag)
    }

    /// `<tag><item>…</item>…</tag>`: one item per element of `items`.
    pub fn set<T>(
        &mut self,
        tag: &str,
        items: impl IntoIterator<Item = T>,
        mut f: impl FnMut(&mut Xml, T),
    ) -> &mut Xml {
        self.open(tag);
        for it in items {
            self.open("item");
            f(self, it);
            self.close("item");
        }
        self.close(tag)
    }

    /// `<tagSet>` of key/value items.
    pub fn tag_set<'a>(
        &mut self,
        tags: impl IntoIterator<Item = &'a (String, String)>,
    ) -> &mut Xml {
        self.set("tagSet", tags, |x, (k, v)| {
            x.leaf("key", k).leaf("value", v);
        })
    }

    /// `<tag><code>n</code><name>s</name></tag>` (instance states).
    pub fn state(&mut self, tag: &str, code: u16, name: &str) -> &mut Xml {
        self.elem(tag, |x| {
            x.num("code", code).leaf("name", name);
        })
    }

    pub fn finish(self) -> String {
        self.buf
    }

    pub fn as_str(&self) -> &str {
        &self.buf
    }
}

/// A successful response document. `action` is a known action's name (never client text).
pub fn response(action: &str, request_id: &str, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 200);
    out.push_str(DECLARATION);
    out.push('\n');
    out.push('<');
    out.push_str(action);
    out.push_str("Response xmlns=\"");
    out.push_str(XMLNS);
    out.push_str("\"><requestId>");
    out.push_str(&text(request_id));
    out.push_str("</requestId>");
    out.push_str(body);
    out.push_str("</");
    out.push_str(action);
    out.push_str("Response>");
    out
}

/// An error document, as EC2 sends them.
pub fn error(code: &str, message: &str, request_id: &str) -> String {
    let mut x = Xml::new();
    x.elem("Response", |x| {
        x.elem("Errors", |x| {
            x.elem("Error", |x| {
                x.leaf("Code", code).leaf("Message", message);
            });
        })
        .leaf("RequestID", request_id);
    });
    format!("{DECLARATION}\n{}", x.finish())
}

/// Milliseconds since the epoch as EC2 prints times (`2026-12-01T13:15:57.123Z`); the epoch
/// itself for a value out of range.
pub fn iso8601(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_escaped() {
        assert_eq!(
            text(r#"<a href="x">&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;"
        );
        assert_eq!(text("plain"), "plain");
        assert_eq!(text("tab\tnl\ncr\r"), "tab\tnl\ncr\r");
    }

    #[test]
    fn characters_xml_cannot_carry_are_replaced() {
        assert_eq!(
            text("a\u{0}b\u{1b}c\u{FFFF}"),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}"
        );
        assert_eq!(text("<\u{7}>"), "&lt;\u{FFFD}&gt;");
        assert_eq!(text("é😀"), "é😀");
    }

    #[test]
    fn sets_and_leaves() {
        let mut x = Xml::new();
        x.set("instancesSet", ["a<", "b"], |x, id| {
            x.leaf("instanceId", id);
        })
        .boolean("return", true)
        .num("code", 16)
        .state("currentState", 48, "terminated")
        .tag_set(&[("Name".to_string(), "web & db".to_string())]);
        assert_eq!(
            x.finish(),
            "<instancesSet><item><instanceId>a&lt;</instanceId></item><item><instanceId>b</instanceId></item></instancesSet>\
             <return>true</return><code>16</code>\
             <currentState><code>48</code><name>terminated</name></currentState>\
             <tagSet><item><key>Name</key><value>web &amp; db</value></item></tagSet>"
        );
    }

    #[test]
    fn response_document() {
        assert_eq!(
            response("DeleteKeyPair", "req-1", "<return>true</return>"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DeleteKeyPairResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
             <requestId>req-1</requestId><return>true</return></DeleteKeyPairResponse>"
        );
    }

    #[test]
    fn error_document_shape() {
        assert_eq!(
            error("InvalidAction", "The action <Foo> & \"bar\" is not valid", "r-1"),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>InvalidAction</Code>\
             <Message>The action &lt;Foo&gt; &amp; &quot;bar&quot; is not valid</Message></Error></Errors>\
             <RequestID>r-1</RequestID></Response>"
        );
    }

    #[test]
    fn times() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_764_594_957_123), "2025-12-01T13:15:57.123Z");
        assert_eq!(iso8601(i64::MAX), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(i64::MIN), "1970-01-01T00:00:00.000Z");
    }
}
