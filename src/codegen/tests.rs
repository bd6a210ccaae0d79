//! Table-driven tests: the expected snippets are case tables, and every diff is applied by `git apply`
//! to a real file.

use super::*;
use serde_json::json;

const BASE: &str = "http://127.0.0.1:7070/";
const KEY: &str = "checkout.v2";

/// `[language kind fallback candidate]` opens a case; each line after it must appear in the plan's
/// install, setup or guard (`\n` and `\t` stand for newline and tab).
const CASES: &str = r#"
[rust boolean false true]
cargo add open-feature@0.3 open-feature-ofrep@0.1
OfrepProvider::new(OfrepOptions {
base_url: "http://127.0.0.1:7070".to_owned(),
api.set_provider(provider).await;
api.create_client()
let flag_ctx = EvaluationContext::default().with_targeting_key(user_id);
let use_new_path = client.get_bool_value("checkout.v2", Some(&flag_ctx), None).await.unwrap_or(false);
if use_new_path {\n    // TODO(flagwarden:checkout.v2): new path: one-page checkout\n    todo!("flagwarden:checkout.v2: new path not written yet");\n} else {
[rust boolean true false]
.unwrap_or(true);
if !flag_value {
[rust string "classic" "compact"]
let flag_value = client.get_string_value("checkout.v2", Some(&flag_ctx), None).await.unwrap_or_else(|_| "classic".to_owned());
if flag_value == "compact" {
[rust number 5 10]
client.get_int_value("checkout.v2", Some(&flag_ctx), None).await.unwrap_or(5);
if flag_value == 10 {
[rust number 5 2.5]
client.get_float_value("checkout.v2", Some(&flag_ctx), None).await.unwrap_or(5.0);
if flag_value == 2.5 {
[rust object {"color":"blue"} {"color":"green","on":true,"gone":null,"big":5000000000}]
cargo add open-feature@0.3 --features serde_json
open_feature::Value::try_from(serde_json::json!({"color": "green", "on": true, "big": 5000000000i64}))
client.get_struct_value::<open_feature::StructValue>("checkout.v2", Some(&flag_ctx), None).await {\n    Ok(value) => open_feature::Value::Struct(value),
if flag_value == candidate {
[typescript boolean false true]
npm install @openfeature/server-sdk @openfeature/ofrep-provider
import { OpenFeature, type EvaluationContext } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
await OpenFeature.setProviderAndWait(new OFREPProvider({ baseUrl: "http://127.0.0.1:7070" }));
const flagContext: EvaluationContext = { targetingKey: userId };
const useNewPath = await client.getBooleanValue("checkout.v2", false, flagContext);
if (useNewPath) {\n  // TODO(flagwarden:checkout.v2)
throw new Error("flagwarden:checkout.v2: new path not written yet");
[ts string "classic" "compact"]
await client.getStringValue("checkout.v2", "classic", flagContext);
if (flagValue === "compact") {
[ts object {"color":"blue"} {"color":"green"}]
import { isDeepStrictEqual } from 'node:util';
await client.getObjectValue("checkout.v2", {"color":"blue"}, flagContext);
if (isDeepStrictEqual(flagValue, {"color":"green"})) {
[ts number 5 10]
await client.getNumberValue("checkout.v2", 5, flagContext);
if (flagValue === 10) {
[node boolean false true]
import { OpenFeature } from '@openfeature/server-sdk';
new OFREPProvider({ baseUrl: "http://127.0.0.1:7070" })
const flagContext = { targetingKey: userId };
await client.getBooleanValue("checkout.v2", false, flagContext);
[js number 5 2.5]
await client.getNumberValue("checkout.v2", 5.0, flagContext);
if (flagValue === 2.5) {
[javascript string "classic" "compact"]
const flagValue = await client.getStringValue("checkout.v2", "classic", flagContext);
[js object {"color":"blue"} {"color":"green"}]
import { isDeepStrictEqual } from 'node:util';
if (isDeepStrictEqual(flagValue, {"color":"green"})) {
[python boolean false true]
pip install openfeature-sdk openfeature-provider-ofrep
from openfeature.contrib.provider.ofrep import OFREPProvider
api.set_provider(OFREPProvider(base_url="http://127.0.0.1:7070/"))
client = api.get_client()
flag_context = EvaluationContext(targeting_key=user_id)
use_new_path = client.get_boolean_value("checkout.v2", False, flag_context)
if use_new_path:\n    # TODO(flagwarden:checkout.v2)
    raise NotImplementedError("flagwarden:checkout.v2: new path not written yet")\nelse:\n    pass
[py boolean true false]
client.get_boolean_value("checkout.v2", True, flag_context)
if not flag_value:
[py string "classic" "compact"]
client.get_string_value("checkout.v2", "classic", flag_context)
if flag_value == "compact":
[py number 5 10]
client.get_integer_value("checkout.v2", 5, flag_context)
[py number 5 2.5]
client.get_float_value("checkout.v2", 5.0, flag_context)
[py object {"color":"blue"} {"color":"green","on":true,"gone":null}]
client.get_object_value("checkout.v2", {"color": "blue"}, flag_context)
if flag_value == {"color": "green", "on": True, "gone": None}:
[go boolean false true]
go get github.com/open-feature/go-sdk github.com/open-feature/go-sdk-contrib/providers/ofrep
"github.com/open-feature/go-sdk-contrib/providers/ofrep"
openfeature.SetProviderAndWait(ofrep.NewProvider("http://127.0.0.1:7070"))
client := openfeature.NewClient("app")
flagCtx := openfeature.NewEvaluationContext(userID, nil)
useNewPath, _ := client.BooleanValue(ctx, "checkout.v2", false, flagCtx)
if useNewPath {\n\t// TODO(flagwarden:checkout.v2)
panic("flagwarden:checkout.v2: new path not written yet")
[golang string "classic" "compact"]
client.StringValue(ctx, "checkout.v2", "classic", flagCtx)
if flagValue == "compact" {
[go number 5 10]
client.IntValue(ctx, "checkout.v2", 5, flagCtx)
[go number 5 2.5]
client.FloatValue(ctx, "checkout.v2", 5.0, flagCtx)
[go object {"color":"blue"} {"color":"green"}]
\t"encoding/json"\n\t"log"\n\t"reflect"
_ = json.Unmarshal([]byte(`{"color":"green"}`), &candidate)
client.ObjectValue(ctx, "checkout.v2", fallback, flagCtx)
if reflect.DeepEqual(flagValue, candidate) {
[java boolean false true]
<groupId>dev.openfeature</groupId><artifactId>sdk</artifactId>
<groupId>dev.openfeature.contrib.providers</groupId><artifactId>ofrep</artifactId>
api.setProviderAndWait(OfrepProvider.constructProvider(
OfrepProviderOptions.builder().baseUrl("http://127.0.0.1:7070").build()
EvaluationContext flagContext = new ImmutableContext(userId);
boolean useNewPath = client.getBooleanValue("checkout.v2", false, flagContext);
throw new UnsupportedOperationException(
[java string "classic" "compact"]
String flagValue = client.getStringValue("checkout.v2", "classic", flagContext);
if ("compact".equals(flagValue)) {
[java number 5 10]
int flagValue = client.getIntegerValue("checkout.v2", 5, flagContext);
[java number 5 2.5]
double flagValue = client.getDoubleValue("checkout.v2", 5.0, flagContext);
[java object {"color":"blue"} {"color":"green","on":true,"gone":null,"big":5000000000}]
import java.util.Map;
client.getObjectValue("checkout.v2", Value.objectToValue(Map.of("color", "blue")), flagContext);
asObjectMap().equals(Map.of("color", "green", "on", true, "big", 5000000000.0))) {
[csharp boolean false true]
dotnet add package OpenFeature\ndotnet add package OpenFeature.Providers.Ofrep
await Api.Instance.SetProviderAsync(new OfrepProvider(new OfrepConfiguration("http://127.0.0.1:7070")));
var flagContext = EvaluationContext.Builder().SetTargetingKey(userId).Build();
var useNewPath = await client.GetBooleanValueAsync("checkout.v2", false, flagContext);
if (useNewPath)\n{\n    // TODO(flagwarden:checkout.v2)
}\nelse\n{
[c# string "classic" "compact"]
await client.GetStringValueAsync("checkout.v2", "classic", flagContext);
if (flagValue == "compact")
[cs number 5 10]
await client.GetIntegerValueAsync("checkout.v2", 5, flagContext);
[dotnet number 5 2.5]
await client.GetDoubleValueAsync("checkout.v2", 5.0, flagContext);
[csharp object {"color":"blue"} {"color":"green","n":[1,null]}]
static bool SameValue(Value a, Value b)
GetObjectValueAsync("checkout.v2", new Value(Structure.Builder().Set("color", new Value("blue")).Build()), flagContext);
if (SameValue(flagValue, new Value(Structure.Builder().Set("color", new Value("green")).Set("n", new Value(new List<Value> { new Value(1), new Value() })).Build())))
"#;

fn request<'a>(language: Language, kind: ValueKind, values: &'a (Value, Value)) -> WrapRequest<'a> {
    WrapRequest {
        language,
        flag_key: KEY,
        kind,
        fallback: &values.0,
        candidate: &values.1,
        change_description: "one-page checkout",
        ofrep_base_url: BASE,
        file: None,
    }
}

/// Wraps without a file and checks each needle, plus what every plan must say.
fn check(language: Language, kind: ValueKind, values: (Value, Value), needles: &[String]) {
    let plan = wrap(&request(language, kind, &values)).unwrap();
    let all = format!("{}\n{}\n{}", plan.install, plan.setup, plan.guard);
    for needle in needles {
        assert!(
            all.contains(needle),
            "{language:?} {kind:?}: no {needle:?} in\n{all}"
        );
    }
    let todo = format!("TODO(flagwarden:{KEY}): new path: one-page checkout");
    assert!(plan.guard.contains(&todo), "{}", plan.guard);
    assert!(plan.guard.contains("percentage rollouts bucket on it"));
    assert!(plan.setup.contains("http://127.0.0.1:7070"));
    assert!(
        plan.setup
            .contains("evaluation context comes from each request")
    );
    let named = format!("the guard for `{KEY}`");
    assert!(plan.setup.contains(&named), "{}", plan.setup);
    for needle in [
        KEY,
        "set_targeting",
        "flagwarden eval",
        "in-memory provider",
        "Old path",
    ] {
        assert!(
            plan.test_plan.contains(needle),
            "{language:?}: no {needle:?} in the test plan"
        );
    }
    assert_eq!(plan.diff, None);
}

#[test]
fn plans_name_the_packages_the_calls_and_the_candidate() {
    let mut seen = Vec::new();
    for case in CASES.split("\n[").skip(1) {
        let (header, needles) = case.split_once("]\n").unwrap();
        let fields: Vec<&str> = header.split(' ').collect();
        let language = Language::parse(fields[0]).unwrap();
        let kind = match fields[1] {
            "boolean" => ValueKind::Boolean,
            "string" => ValueKind::String,
            "number" => ValueKind::Number,
            _ => ValueKind::Object,
        };
        let value = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        let needles: Vec<String> = needles
            .lines()
            .map(|l| l.replace("\\n", "\n").replace("\\t", "\t"))
            .collect();
        check(
            language,
            kind,
            (value(fields[2]), value(fields[3])),
            &needles,
        );
        seen.push((language, kind));
    }
    for language in Language::ALL {
        for kind in [
            ValueKind::Boolean,
            ValueKind::String,
            ValueKind::Number,
            ValueKind::Object,
        ] {
            assert!(
                seen.contains(&(language, kind)),
                "no case for {language:?} {kind:?}"
            );
        }
    }
}

#[test]
fn languages_parse_by_name_and_alias() {
    for language in Language::ALL {
        assert_eq!(Language::parse(language.as_str()), Ok(language));
    }
    let aliases = [
        ("RS", Language::Rust),
        (" node ", Language::JavaScript),
        ("golang", Language::Go),
    ];
    for (alias, language) in aliases {
        assert_eq!(Language::parse(alias), Ok(language));
    }
    let message = Language::parse("cobol").unwrap_err().to_string();
    assert!(
        message.starts_with("unknown language \"cobol\""),
        "{message}"
    );
    for language in Language::ALL {
        assert!(message.contains(language.as_str()), "{message}");
    }
}

/// `start end kind fallback candidate | part of the message`, against the file "a\n\nb\n".
const REFUSALS: &str = r#"
0 1 boolean false true | start_line: lines are numbered from 1, got 0
3 1 boolean false true | start_line (3) is after end_line (1): pass start_line <= end_line
1 4 boolean false true | end_line (4) is beyond the end of app/x.py, which has 3 lines
2 2 boolean false true | start_line..end_line (2..2) of app/x.py are blank
1 1 boolean "off" true | fallback: a boolean flag needs a boolean value, got "off"
1 1 object {} [1] | candidate: a object flag needs a JSON object value, got [1]
1 1 string "a" "a" | candidate: equals the fallback ("a")
"#;

#[test]
fn bad_ranges_and_values_are_refused_naming_the_field() {
    for line in REFUSALS.trim().lines() {
        let (input, expected) = line.split_once(" | ").unwrap();
        let f: Vec<&str> = input.split(' ').collect();
        let kind = match f[2] {
            "boolean" => ValueKind::Boolean,
            "string" => ValueKind::String,
            _ => ValueKind::Object,
        };
        let values: (Value, Value) = (
            serde_json::from_str(f[3]).unwrap(),
            serde_json::from_str(f[4]).unwrap(),
        );
        let mut req = request(Language::Python, kind, &values);
        let (start_line, end_line) = (f[0].parse().unwrap(), f[1].parse().unwrap());
        req.file = Some(SourceRange {
            path: "app/x.py",
            source: "a\n\nb\n",
            start_line,
            end_line,
        });
        let err = wrap(&req).unwrap_err().to_string();
        assert!(err.contains(expected), "{line}\n  got: {err}");
    }
    let values = (json!(false), json!(true));
    let mut req = request(Language::Rust, ValueKind::Boolean, &values);
    req.file = Some(SourceRange {
        path: "empty.rs",
        source: "",
        start_line: 1,
        end_line: 1,
    });
    let err = wrap(&req).unwrap_err().to_string();
    assert!(
        err.contains("end_line (1) is beyond the end of empty.rs, which has 0 lines"),
        "{err}"
    );
}

#[test]
fn descriptions_cannot_break_out_of_the_comment() {
    let evil =
        "ship */ evil(); /* \n injected();\r\n\u{2028}a\u{2029}b\u{85}c \\u000a d \u{202e}gnp.exe";
    let values = (json!(false), json!(true));
    for language in Language::ALL {
        let mut req = request(language, ValueKind::Boolean, &values);
        req.change_description = evil;
        let guard = wrap(&req).unwrap().guard;
        let lines: Vec<&str> = guard.lines().filter(|l| l.contains("injected")).collect();
        assert_eq!(lines.len(), 1, "{language:?}:\n{guard}");
        let comment = if language == Language::Python {
            "# TODO"
        } else {
            "// TODO"
        };
        assert!(
            lines[0].trim_start().starts_with(comment),
            "{language:?}: {}",
            lines[0]
        );
        for bad in [
            "*/", "/*", "\r", "\u{2028}", "\u{2029}", "\u{85}", "\\u000a", "\u{202e}",
        ] {
            assert!(!guard.contains(bad), "{language:?}: {bad:?} in\n{guard}");
        }
    }
}

/// Applies the plan's diff to `source` in a scratch git repository and returns the patched file.
fn apply(
    language: Language,
    name: &str,
    path: &str,
    source: &str,
    lines: (usize, usize),
) -> String {
    use std::process::Command;
    let values = (json!(false), json!(true));
    let mut req = request(language, ValueKind::Boolean, &values);
    req.file = Some(SourceRange {
        path,
        source,
        start_line: lines.0,
        end_line: lines.1,
    });
    let diff = wrap(&req).unwrap().diff.unwrap();
    assert!(
        diff.starts_with(&format!("--- a/{path}\n+++ b/{path}\n@@ ")),
        "{diff}"
    );
    assert!(diff.ends_with('\n'));
    let dir =
        std::env::temp_dir().join(format!("flagwarden-codegen-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join(path).parent().unwrap()).unwrap();
    std::fs::write(dir.join(path), source).unwrap();
    std::fs::write(dir.join("wrap.patch"), &diff).unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("git runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "git {args:?}: {stderr}\n{diff}");
    };
    git(&["init", "-q"]);
    git(&["apply", "--check", "wrap.patch"]);
    git(&["apply", "wrap.patch"]);
    let patched = std::fs::read_to_string(dir.join(path)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    patched
}

/// Language, scratch directory name, path, source, lines to wrap, what the patched file holds.
type DiffCase<'a> = (
    Language,
    &'a str,
    &'a str,
    &'a str,
    (usize, usize),
    &'a [&'a str],
);

#[test]
#[rustfmt::skip]
fn diffs_apply_with_git_and_keep_the_old_code_in_the_else_branch() {
    let rust = "fn total(cart: &Cart) -> u32 {\n    let sum = cart.sum();\n    sum + 1\n}\n";
    let python = "def total(cart):\n    if cart:\n        s = cart.sum()\n        return s\n    return 0\n";
    let ts = "export class Cart {\n  total(): number {\n    const s = this.sum();\n    return s;\n  }\n}\n";
    let go = "func total(c Cart) int {\n\ts := c.Sum()\n\treturn s\n}\n";
    let crlf = "def f():\r\n    a = 1\r\n    return a\r\n";
    let cases: [DiffCase; 7] = [
        (Language::Rust, "rust", "src/cart.rs", rust, (2, 3), &[
            "    if use_new_path {\n        // TODO(flagwarden:checkout.v2)",
            "    } else {\n        let sum = cart.sum();\n        sum + 1\n    }\n}\n"]),
        (Language::Python, "python", "app/cart.py", python, (3, 4), &[
            "    if cart:\n        # flagwarden:checkout.v2: the targeting key",
            "        if use_new_path:\n            # TODO",
            "        else:\n            s = cart.sum()\n            return s\n    return 0\n"]),
        (Language::TypeScript, "ts", "src/cart.ts", ts, (3, 4), &[
            "    if (useNewPath) {\n      // TODO",
            "    } else {\n      const s = this.sum();\n      return s;\n    }\n  }\n"]),
        (Language::Go, "go", "cart.go", go, (2, 3), &[
            "\tif useNewPath {\n\t\t// TODO",
            "\t} else {\n\t\ts := c.Sum()\n\t\treturn s\n\t}\n}\n"]),
        (Language::Python, "crlf", "f.py", crlf, (2, 3), &[
            "    if use_new_path:\r\n        # TODO",
            "    else:\r\n        a = 1\r\n        return a\r\n"]),
        (Language::Rust, "eof", "src/f.rs", "fn f() {\n    g();\n}", (2, 2), &[
            "    } else {\n        g();\n    }\n}"]),
        (Language::Python, "eof-last", "a.py", "x = 1\ny = 2", (2, 2), &[
            "if use_new_path:\n    # TODO", "else:\n    y = 2"]),
    ];
    for (language, name, path, source, lines, expected) in cases {
        let patched = apply(language, name, path, source, lines);
        assert_eq!(patched.ends_with('\n'), source.ends_with('\n'), "{name}: final newline");
        for needle in expected {
            assert!(patched.contains(needle), "{name}: no {needle:?} in\n{patched}");
        }
    }
}

/// Wraps `lines` of `source` in a boolean guard; the error message, if refused.
fn refusal(language: Language, source: &str, lines: (usize, usize)) -> Option<String> {
    let values = (json!(false), json!(true));
    let mut req = request(language, ValueKind::Boolean, &values);
    req.file = Some(SourceRange {
        path: "f",
        source,
        start_line: lines.0,
        end_line: lines.1,
    });
    wrap(&req).err().map(|e| e.to_string())
}

/// `language start end | part of the message` then the source lines, up to a blank line; `-` as
/// the message: accepted.
const RANGES: &str = r##"
rust 3 3 | start_line: line 3 starts with `.`, so it continues the statement before it
fn f() {
    let x = items
        .iter()
        .count();
    g(x);
}

rust 2 3 | end_line: line 2 opens a `(` that is still open after line 3: move end_line to line 4, which closes it
fn f() {
    g(a,
      b,
      c);
}

rust 3 5 | start_line: line 4 closes a `}` opened before line 3 (on line 2): move start_line to the line that opens it, or end_line above line 4
fn f() {
    if a {
        b();
    }
    c();
}

rust 3 3 | start_line: line 3 is inside the expression `(` opened on line 2 (it closes on line 4)
fn f() {
    g(
        a,
    );
}

rust 2 2 | end_line: line 2 ends with `=` and leaves its statement unfinished
fn f() {
    let x =
        5;
}

rust 2 2 | end_line: line 2 declares `total`, which line 3 uses after the range
fn f() -> u32 {
    let total = sum();
    total + 1
}

rust 2 3 | -
fn f() -> u32 {
    let total = sum();
    log(total);
    0
}

rust 3 4 | start_line: line 3 is inside a multi-line string or comment
fn f() {
    let s = r#"a
    b"#;
    g();
}

rust 2 2 | end_line: line 2 is an attribute or decorator
fn f() {
    #[allow(unused)]
    let x = 1;
}

rust 2 4 | -
fn f() {
    let s = "}{ // not a comment";
    let c = '}';
    /* } */ g(s, c); // ) ]
}

typescript 2 2 | end_line: line 3 starts with `else` and continues the statement on line 2
function f() {
  if (a) { b(); }
  else { c(); }
}

typescript 2 2 | end_line: line 2 declares `total`, which line 3 uses after the range; wrapped, the declaration moves into the else block and line 3 no longer sees it: widen end_line to line 3 to wrap its uses too, or declare `total` above line 2
function f() {
  const total = sum();
  return total;
}

typescript 2 2 | -
function f() {
  const total = sum();
  return other.total;
}

typescript 3 3 | start_line: line 3 is inside the expression `{` opened on line 2
function f() {
  const o = {
    a: 1,
  };
}

javascript 2 3 | -
function f() {
  const s = `a ${ {b: 1}.b } }`;
  g(s);
}

javascript 2 2 | end_line: line 2 ends with `&&` and leaves its statement unfinished
function f() {
  const ok = a &&
    b;
}

python 3 3 | end_line: line 3 ends with `:` and opens a block whose body is outside the range
def f():
    x = 1
    if x:
        g()

python 2 3 | end_line: line 3 is less indented than line 2, so the range leaves the block it starts in
def f():
    g()
h()

python 3 4 | start_line: line 3 starts with `elif`
if a:
    b()
elif c:
    d()

python 2 4 | -
def f():
    s = """
  not code: (
"""
    return s

python 3 3 | start_line: line 3 is inside a multi-line string or comment
def f():
    s = '''
  x = 1
'''

python 2 2 | start_line: line 1 ends with `\`, so line 2 continues its statement
x = 1 + \
    2

go 2 2 | end_line: line 2 declares `err`, which line 3 uses after the range
func f() error {
	v, err := g()
	return err
}

go 2 3 | -
func f() {
	for i := 0; i < 3; i++ {
	}
	i := 2
}

java 2 2 | end_line: line 2 declares `names`, which line 3 uses after the range
void f() {
    List<String> names = load();
    use(names);
}

java 2 2 | -
void f() {
    this.total = load();
    use(total);
}

csharp 3 3 | start_line: line 3 starts with `catch`
void F() {
    try { G(); }
    catch (Exception e) { H(); }
}

csharp 2 2 | end_line: line 2 declares `x`, which line 3 uses after the range
void F() {
    var x = @"a "" }";
    G(x);
}
"##;

#[test]
fn ranges_that_cut_statements_or_scopes_are_refused() {
    for case in RANGES.trim().split("\n\n") {
        let (header, source) = case.split_once('\n').unwrap();
        let (input, expected) = header.split_once(" | ").unwrap();
        let f: Vec<&str> = input.split(' ').collect();
        let language = Language::parse(f[0]).unwrap();
        let lines = (f[1].parse().unwrap(), f[2].parse().unwrap());
        let source = format!("{source}\n");
        let got = refusal(language, &source, lines);
        match expected {
            "-" => assert_eq!(got, None, "{header}\n{source}"),
            _ => {
                let got = got.unwrap_or_else(|| panic!("accepted: {header}\n{source}"));
                assert!(got.contains(expected), "{header}\n  got: {got}");
            }
        }
    }
}

/// Applies `diff` to `path` holding `source` in a scratch git repository, checking it first.
fn git_apply(name: &str, path: &str, source: &str, diff: &str) -> String {
    use std::process::Command;
    let dir =
        std::env::temp_dir().join(format!("flagwarden-cleanup-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join(path).parent().unwrap()).unwrap();
    std::fs::write(dir.join(path), source).unwrap();
    std::fs::write(dir.join("change.patch"), diff).unwrap();
    for args in [
        &["init", "-q"][..],
        &["apply", "--check", "change.patch"],
        &["apply", "change.patch"],
    ] {
        let out = Command::new("git")
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{name}: git {args:?}: {stderr}\n{diff}"
        );
    }
    let patched = std::fs::read_to_string(dir.join(path)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    patched
}

/// Per language: a file and the statements to wrap, the old code's indentation.
const SAMPLES: [(Language, &str, &str, (usize, usize)); 8] = [
    (
        Language::Rust,
        "src/cart.rs",
        "impl Cart {\n    fn total(&self) -> u32 {\n        let sum = self.sum();\n        log(sum);\n\n        sum + 1\n    }\n}\n",
        (3, 6),
    ),
    (
        Language::TypeScript,
        "src/cart.ts",
        "export class Cart {\n  total(): number {\n    const s = this.sum();\n    const t = `a\n  ${s}`;\n    return s;\n  }\n}\n",
        (3, 6),
    ),
    (
        Language::JavaScript,
        "src/cart.js",
        "function total(cart) {\n  const s = cart.sum(); // sum\n  return s;\n}",
        (2, 3),
    ),
    (
        Language::Python,
        "app/cart.py",
        "class Cart:\n    def total(self):\n        s = self.sum()\n        # add one\n        \n        return s + 1\n",
        (3, 6),
    ),
    (
        Language::Go,
        "cart.go",
        "func (c Cart) Total() int {\n\ts := c.Sum()\n\treturn s\n}\n",
        (2, 3),
    ),
    (
        Language::Java,
        "src/Cart.java",
        "class Cart {\r\n    int total() {\r\n        int s = sum();\r\n        return s;\r\n    }\r\n}\r\n",
        (3, 4),
    ),
    (
        Language::CSharp,
        "Cart.cs",
        "class Cart\n{\n    int Total()\n    {\n        var s = Sum(); // \u{e9}t\u{e9}\n        return s;\n    }\n}\n",
        (5, 6),
    ),
    (
        Language::Python,
        "tabs.py",
        "def f():\n\tif a:\n\t\tb()\n\tc()",
        (2, 4),
    ),
];

fn kinds() -> [(ValueKind, Value, Value); 6] {
    [
        (ValueKind::Boolean, json!(false), json!(true)),
        (ValueKind::Boolean, json!(true), json!(false)),
        (ValueKind::String, json!("classic"), json!("compact")),
        (ValueKind::Number, json!(5), json!(10)),
        (ValueKind::Number, json!(1.5), json!(2.5)),
        (
            ValueKind::Object,
            json!({"a": 1}),
            json!({"a": 2, "b": [true, "x"]}),
        ),
    ]
}

fn cleanup_plan(language: Language, path: &str, source: &str, kept: &Value) -> CleanupPlan {
    cleanup(&CleanupRequest {
        language,
        path,
        source,
        flag_key: KEY,
        kept,
    })
    .unwrap()
}

#[test]
fn cleanup_undoes_wrap_byte_for_byte_or_keeps_the_new_path() {
    for (i, (language, path, source, lines)) in SAMPLES.iter().enumerate() {
        for (j, (kind, fallback, candidate)) in kinds().into_iter().enumerate() {
            let name = format!("{i}-{j}");
            let values = (fallback.clone(), candidate.clone());
            let mut req = request(*language, kind, &values);
            req.file = Some(SourceRange {
                path,
                source,
                start_line: lines.0,
                end_line: lines.1,
            });
            let plan = wrap(&req).unwrap();
            let wrapped = git_apply(&name, path, source, &plan.diff.unwrap());

            let old = cleanup_plan(*language, path, &wrapped, &values.0);
            assert_eq!(old.edits.len(), 1, "{name}: {:?}\n{wrapped}", old.edits);
            assert_eq!(
                old.edits[0].kind,
                EditKind::Guard,
                "{name}: {:?}\n{wrapped}",
                old.edits
            );
            let back = git_apply(&name, path, &wrapped, &old.diff.unwrap());
            assert_eq!(back, *source, "{name} {language:?} {kind:?}:\n{wrapped}");

            let new = cleanup_plan(*language, path, &wrapped, &values.1);
            assert_eq!(
                new.edits[0].kind,
                EditKind::Guard,
                "{name}: {:?}",
                new.edits
            );
            assert_eq!(
                new.edits[1].kind,
                EditKind::Manual,
                "{name}: {:?}",
                new.edits
            );
            assert!(new.edits[1].instruction.contains("placeholder"));
            let kept = git_apply(&name, path, &wrapped, &new.diff.unwrap());
            let base = leading(source.split_inclusive('\n').nth(lines.0 - 1).unwrap());
            let todo = format!(
                "\n{base}{} TODO(flagwarden:{KEY}): new path: one-page checkout",
                if *language == Language::Python {
                    "#"
                } else {
                    "//"
                }
            );
            assert!(kept.contains(&todo), "{name}: no {todo:?} in\n{kept}");
            let mut expected = source.split_inclusive('\n').collect::<Vec<_>>();
            expected.drain(lines.0 - 1..lines.1);
            for line in expected {
                assert!(kept.contains(line), "{name}: lost {line:?} in\n{kept}");
            }
        }
    }
}

/// `language kept-json | edit kinds`, the source, `=>`, the file after cleanup (`-`: no diff); cases
/// end with a blank line.
const HAND_WRITTEN: &str = r#"
typescript true | guard manual
async function f() {
  if (await client.getBooleanValue("checkout.v2", false, ctx)) {
    newThing();
  } else {
    oldThing();
  }
  track(await client.getBooleanValue("checkout.v2", false, ctx));
}
=>
async function f() {
  newThing();
  track(await client.getBooleanValue("checkout.v2", false, ctx));
}

python false | guard
async def f():
    if await client.get_boolean_value("checkout.v2", False, ctx):
        new_thing()
    else:
        old_thing()
        more()
    done()
=>
async def f():
    old_thing()
    more()
    done()

python "b" | manual
def f():
    if client.get_string_value('checkout.v2', "a", ctx) == "a":
        one()
    elif two:
        two()
=>
-

go true | guard
func f() {
	if v, _ := client.BooleanValue(ctx, "checkout.v2", false, ec); v {
		newThing()
	} else {
		oldThing()
	}
}
=>
func f() {
	newThing()
}

java "classic" | guard
void f() {
    if ("compact".equals(client.getStringValue("checkout.v2", "classic", ctx))) {
        compact();
    } else {
        classic();
    }
}
=>
void f() {
    classic();
}

csharp 10 | guard
void F()
{
    if (await client.GetIntegerValueAsync("checkout.v2", 5, ctx) != 10)
    {
        Five();
    }
    else
    {
        Ten();
    }
}
=>
void F()
{
    Ten();
}

rust false | guard
fn f() {
    if client.get_bool_value("checkout.v2", Some(&ctx), None).await.unwrap_or(false) {
        new_thing();
    }
    done();
}
=>
fn f() {
    done();
}

typescript "compact" | manual
function f() {
  const mode = await client.getStringValue("checkout.v2", "classic", ctx);
  if (mode === "compact") {
    compact();
  }
  log(mode);
}
=>
-

javascript true | manual
function f() {
  if (await client.getBooleanValue("checkout.v2", false, ctx) || force) {
    a();
  }
}
=>
-
"#;

#[test]
fn cleanup_rewrites_idiomatic_guards_and_explains_the_rest() {
    for case in HAND_WRITTEN.trim().split("\n\n") {
        let (header, rest) = case.split_once('\n').unwrap();
        let (source, expected) = rest.split_once("\n=>\n").unwrap();
        let (input, kinds) = header.split_once(" | ").unwrap();
        let (language, kept) = input.split_once(' ').unwrap();
        let language = Language::parse(language).unwrap();
        let kept: Value = serde_json::from_str(kept).unwrap();
        let source = format!("{source}\n");
        let plan = cleanup_plan(language, "src/f", &source, &kept);
        let got: Vec<&str> = plan
            .edits
            .iter()
            .map(|e| match e.kind {
                EditKind::Guard => "guard",
                EditKind::Manual => "manual",
            })
            .collect();
        assert_eq!(got.join(" "), kinds, "{header}: {:?}", plan.edits);
        for edit in plan.edits.iter().filter(|e| e.kind == EditKind::Manual) {
            let line = format!("line {}: ", edit.line);
            assert!(edit.instruction.starts_with(&line), "{edit:?}");
            assert!(edit.instruction.contains("checkout.v2"), "{edit:?}");
        }
        match (expected, plan.diff) {
            ("-", None) => {}
            ("-", Some(diff)) => panic!("{header}: unexpected diff\n{diff}"),
            (_, None) => panic!("{header}: no diff, edits {:?}", plan.edits),
            (expected, Some(diff)) => {
                let patched = git_apply("hand", "src/f", &source, &diff);
                assert_eq!(patched, format!("{expected}\n"), "{header}");
            }
        }
    }
}

#[test]
fn no_input_makes_wrap_or_cleanup_panic() {
    let sources = [
        "",
        "\n",
        "\u{feff}fn f() {\r\n\tlet s = \"é\u{2028}\";\r\n}",
        "if (\"checkout.v2\") {\n",
        "x = '''\n\"checkout.v2\"\n",
        "r#\"\n\"checkout.v2\"\nif \"checkout.v2\" == {",
        "`${`${\"checkout.v2\"}`}`\n}}}\n{{{",
        "'\\\n\"checkout.v2\"' /* /* */ \"checkout.v2\"",
        "if v, _ := c.B(\"checkout.v2\"); {\n} else\n",
        "if \"checkout.v2\":\nelse:\n",
    ];
    let values = (json!(false), json!(true));
    for source in sources {
        let count = source.split_inclusive('\n').count();
        for language in Language::ALL {
            for start in 1..=count {
                for end in start..=count {
                    let mut req = request(language, ValueKind::Boolean, &values);
                    req.file = Some(SourceRange {
                        path: "f",
                        source,
                        start_line: start,
                        end_line: end,
                    });
                    let _ = wrap(&req);
                }
            }
            for kept in [json!(true), json!("x"), json!(null)] {
                let _ = cleanup_plan(language, "f", source, &kept);
            }
        }
    }
}
