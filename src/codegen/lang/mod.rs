//! The per-language templates: install commands, provider setup, the guard and value literals.
//!
//! Each language is one `Template` of plain text with `{name}` holes, so what an agent receives can
//! be read here as it is. Package and API names were checked against the published packages and the
//! OpenFeature SDK and contrib sources; the comment above each template says which. Guard lines mark
//! nesting with leading tabs, which `Guard::render` turns into the target file's indentation unit.

use serde_json::Value;

use super::{Compare, Language, WrapRequest};

/// One language's text. Per-kind arrays are indexed boolean, string, integer, float, object.
struct Template {
    comment: &'static str,
    user: &'static str,
    /// The evaluated value's name: for a plain off/on boolean, else for a value compared to the candidate.
    names: [&'static str; 2],
    install: &'static str,
    /// Replaces `install` for object flags, when those need more.
    install_object: Option<&'static str>,
    /// `{url}`, `{imports}` and `{note}` are filled in.
    setup: &'static str,
    /// Imports for the setup: plain flags, then object flags.
    imports: [&'static str; 2],
    /// Builds the evaluation context in the guard.
    context: &'static str,
    evals: [&'static str; 5],
    conds: [&'static str; 5],
    /// Negates a boolean, for a flag whose candidate is `false`.
    not: &'static str,
    open: &'static str,
    middle: &'static str,
    close: &'static str,
    /// Stops the unwritten new path loudly: `{msg}`.
    stop: &'static str,
    /// Stands for the old code in the standalone guard.
    old: &'static str,
    test_cmd: &'static str,
    unit_test: &'static str,
}

// crates.io: open-feature 0.3.0 (async Client::get_*_value(key, Option<&EvaluationContext>, None) ->
// Result, no code default argument; Value::try_from(serde_json::Value) with its `serde_json` feature) and
// open-feature-ofrep 0.1.2 (OfrepProvider::new(OfrepOptions { base_url, .. }).await -> Result).
const RUST: Template = Template {
    comment: "//",
    user: "user_id",
    names: ["use_new_path", "flag_value"],
    install: "cargo add open-feature@0.3 open-feature-ofrep@0.1\n\
              # The SDK is async: add a runtime if you have none (cargo add tokio --features macros,rt-multi-thread).",
    install_object: Some(
        "cargo add open-feature@0.3 --features serde_json\ncargo add open-feature-ofrep@0.1 serde_json@1\n\
         # The SDK is async: add a runtime if you have none (cargo add tokio --features macros,rt-multi-thread).",
    ),
    setup: r#"use open_feature::{EvaluationContext, OpenFeature};
use open_feature_ofrep::{OfrepOptions, OfrepProvider};

// Once at startup, inside the async runtime: flagwarden's OFREP endpoint becomes the provider
// (it appends /ofrep/v1/evaluate/flags/<key> to the base URL).
let provider = OfrepProvider::new(OfrepOptions {
    base_url: {url}.to_owned(),
    ..Default::default()
})
.await
.expect("the flagwarden OFREP base URL is valid");
let client = {
    let mut api = OpenFeature::singleton_mut().await;
    api.set_provider(provider).await;
    api.create_client()
};
// Keep `client` where request handlers reach it (e.g. in the app state).
{note}"#,
    imports: ["", ""],
    context: "let flag_ctx = EvaluationContext::default().with_targeting_key(user_id);",
    evals: [
        "let {var} = client.get_bool_value({key}, Some(&flag_ctx), None).await.unwrap_or({fb});",
        "let {var} = client.get_string_value({key}, Some(&flag_ctx), None).await.unwrap_or_else(|_| {fb}.to_owned());",
        "let {var} = client.get_int_value({key}, Some(&flag_ctx), None).await.unwrap_or({fb});",
        "let {var} = client.get_float_value({key}, Some(&flag_ctx), None).await.unwrap_or({fb});",
        "// open-feature's `serde_json` feature turns JSON into flag values.\n\
         let fallback = open_feature::Value::try_from(serde_json::json!({fb})).expect(\"valid JSON object\");\n\
         let candidate = open_feature::Value::try_from(serde_json::json!({cand})).expect(\"valid JSON object\");\n\
         let {var} = match client.get_struct_value::<open_feature::StructValue>({key}, Some(&flag_ctx), None).await {\n\
         \tOk(value) => open_feature::Value::Struct(value),\n\
         \tErr(_) => fallback,\n\
         };",
    ],
    conds: [
        "{var}",
        "{var} == {cand}",
        "{var} == {cand}",
        "{var} == {cand}",
        "{var} == candidate",
    ],
    not: "!",
    open: "if {cond} {",
    middle: "} else {",
    close: "}",
    stop: "todo!({msg});",
    old: "// old path: the code that runs today, unchanged",
    test_cmd: "cargo test",
    unit_test: "open-feature 0.3 has no in-memory provider, so keep the branch decision in a small function that \
                takes the evaluated value and test it with {cand} and with {fb}; or register a `MockFeatureProvider` \
                (the crate's default `test-util` feature) that resolves {key} to each value in turn.",
};

// npm: @openfeature/server-sdk 1.23.0 (setProviderAndWait, get{Boolean,String,Number,Object}Value(key,
// default, context), TypedInMemoryProvider); @openfeature/ofrep-provider 0.1.3 (new OFREPProvider({ baseUrl })).
const TYPESCRIPT: Template = Template {
    comment: "//",
    user: "userId",
    names: ["useNewPath", "flagValue"],
    install: "npm install @openfeature/server-sdk @openfeature/ofrep-provider\n\
              # npm installs their peer dependencies; yarn and pnpm may not: add the ones they warn about\n\
              # (@openfeature/core, @openfeature/ofrep-core).",
    install_object: None,
    setup: r#"import { OpenFeature, type EvaluationContext } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
{imports}
// Once at startup (in an ES module, where top-level await works): flagwarden's OFREP endpoint
// becomes the provider (it appends /ofrep/v1/evaluate/flags/<key> to the base URL).
await OpenFeature.setProviderAndWait(new OFREPProvider({ baseUrl: {url} }));
export const client = OpenFeature.getClient();
{note}"#,
    imports: ["", "import { isDeepStrictEqual } from 'node:util';\n"],
    context: "const flagContext: EvaluationContext = { targetingKey: userId };",
    evals: [
        "const {var} = await client.getBooleanValue({key}, {fb}, flagContext);",
        "const {var} = await client.getStringValue({key}, {fb}, flagContext);",
        "const {var} = await client.getNumberValue({key}, {fb}, flagContext);",
        "const {var} = await client.getNumberValue({key}, {fb}, flagContext);",
        "const {var} = await client.getObjectValue({key}, {fb}, flagContext);",
    ],
    conds: [
        "{var}",
        "{var} === {cand}",
        "{var} === {cand}",
        "{var} === {cand}",
        "isDeepStrictEqual({var}, {cand})",
    ],
    not: "!",
    open: "if ({cond}) {",
    middle: "} else {",
    close: "}",
    stop: "throw new Error({msg});",
    old: "// old path: the code that runs today, unchanged",
    test_cmd: "npm test",
    unit_test: r#"register the SDK's in-memory provider before the code under test, once with each default variant:

import { OpenFeature, TypedInMemoryProvider } from '@openfeature/server-sdk';
await OpenFeature.setProviderAndWait(new TypedInMemoryProvider({
  {key}: { variants: { new: {cand}, old: {fb} }, defaultVariant: 'new', disabled: false },
}));
// ...assert the new path, then again with defaultVariant: 'old' for the old path"#,
};

const JAVASCRIPT: Template = Template {
    setup: r#"import { OpenFeature } from '@openfeature/server-sdk';
import { OFREPProvider } from '@openfeature/ofrep-provider';
{imports}
// Once at startup (in an ES module, where top-level await works): flagwarden's OFREP endpoint
// becomes the provider (it appends /ofrep/v1/evaluate/flags/<key> to the base URL).
await OpenFeature.setProviderAndWait(new OFREPProvider({ baseUrl: {url} }));
export const client = OpenFeature.getClient();
{note}"#,
    context: "const flagContext = { targetingKey: userId };",
    ..TYPESCRIPT
};

// PyPI: openfeature-sdk 0.10.0 (api.set_provider, client.get_*_value(key, default, EvaluationContext),
// InMemoryProvider) and openfeature-provider-ofrep 0.3.0 (OFREPProvider(base_url), urljoin'ed with "ofrep/v1/").
const PYTHON: Template = Template {
    comment: "#",
    user: "user_id",
    names: ["use_new_path", "flag_value"],
    install: "pip install openfeature-sdk openfeature-provider-ofrep",
    install_object: None,
    setup: r#"from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext

# Once at startup: flagwarden's OFREP endpoint becomes the provider. It resolves
# ofrep/v1/evaluate/flags/<key> against the base URL, hence the final slash.
api.set_provider(OFREPProvider(base_url={url}))
client = api.get_client()
{note}"#,
    imports: ["", ""],
    context: "flag_context = EvaluationContext(targeting_key=user_id)",
    evals: [
        "{var} = client.get_boolean_value({key}, {fb}, flag_context)",
        "{var} = client.get_string_value({key}, {fb}, flag_context)",
        "{var} = client.get_integer_value({key}, {fb}, flag_context)",
        "{var} = client.get_float_value({key}, {fb}, flag_context)",
        "{var} = client.get_object_value({key}, {fb}, flag_context)",
    ],
    conds: [
        "{var}",
        "{var} == {cand}",
        "{var} == {cand}",
        "{var} == {cand}",
        "{var} == {cand}",
    ],
    not: "not ",
    open: "if {cond}:",
    middle: "else:",
    close: "",
    stop: "raise NotImplementedError({msg})",
    old: "pass  # old path: the code that runs today, unchanged",
    test_cmd: "pytest",
    unit_test: r#"register the SDK's in-memory provider before the code under test, once with each default variant:

from openfeature.provider.in_memory_provider import InMemoryFlag, InMemoryProvider
api.set_provider(InMemoryProvider({{key}: InMemoryFlag("new", {"new": {cand}, "old": {fb}})}))
# ...assert the new path, then again with InMemoryFlag("old", ...) for the old path"#,
};

// go-sdk v1 (SetProviderAndWait, NewClient, Client.BooleanValue(ctx, key, default, EvaluationContext)
// returning the default with its error, NewEvaluationContext, memprovider) and go-sdk-contrib/providers/ofrep
// (NewProvider(baseURI, ...options)).
const GO: Template = Template {
    comment: "//",
    user: "userID",
    names: ["useNewPath", "flagValue"],
    install: "go get github.com/open-feature/go-sdk github.com/open-feature/go-sdk-contrib/providers/ofrep",
    install_object: None,
    setup: "import (\n{imports}\n\t\"github.com/open-feature/go-sdk-contrib/providers/ofrep\"\n\
            \t\"github.com/open-feature/go-sdk/openfeature\"\n)\n\n\
            // Once at startup: flagwarden's OFREP endpoint becomes the provider\n\
            // (it appends /ofrep/v1/evaluate/flags/<key> to the base URL).\n\
            if err := openfeature.SetProviderAndWait(ofrep.NewProvider({url})); err != nil {\n\
            \tlog.Fatalf(\"flagwarden OFREP provider: %v\", err)\n}\n\
            client := openfeature.NewClient(\"app\")\n{note}",
    imports: [
        "\t\"log\"\n",
        "\t\"encoding/json\"\n\t\"log\"\n\t\"reflect\"\n",
    ],
    context: "flagCtx := openfeature.NewEvaluationContext(userID, nil)\n// ctx is the request's context.Context.",
    evals: [
        "{var}, _ := client.BooleanValue(ctx, {key}, {fb}, flagCtx)",
        "{var}, _ := client.StringValue(ctx, {key}, {fb}, flagCtx)",
        "{var}, _ := client.IntValue(ctx, {key}, {fb}, flagCtx)",
        "{var}, _ := client.FloatValue(ctx, {key}, {fb}, flagCtx)",
        "var fallback, candidate any\n_ = json.Unmarshal([]byte({fb}), &fallback)\n\
         _ = json.Unmarshal([]byte({cand}), &candidate)\n{var}, _ := client.ObjectValue(ctx, {key}, fallback, flagCtx)",
    ],
    conds: [
        "{var}",
        "{var} == {cand}",
        "{var} == {cand}",
        "{var} == {cand}",
        "reflect.DeepEqual({var}, candidate)",
    ],
    not: "!",
    open: "if {cond} {",
    middle: "} else {",
    close: "}",
    stop: "panic({msg})",
    old: "// old path: the code that runs today, unchanged",
    test_cmd: "go test ./...",
    unit_test: "register the SDK's in-memory provider (github.com/open-feature/go-sdk/openfeature/memprovider) \
                before the code under test, once with each default variant:\n\n\
                openfeature.SetProviderAndWait(memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{\n\
                \t{key}: {Key: {key}, State: memprovider.Enabled, DefaultVariant: \"new\", \
                Variants: map[string]any{\"new\": {cand}, \"old\": {fb}}},\n}))\n\
                // ...assert the new path, then again with DefaultVariant: \"old\" for the old path",
};

// Maven Central: dev.openfeature:sdk (1.20.2 per javadoc.io; setProviderAndWait, get*Value(key, default,
// ctx), ImmutableContext(targetingKey), Value.objectToValue, providers.memory) and
// dev.openfeature.contrib.providers:ofrep 0.0.2 (OfrepProvider.constructProvider(OfrepProviderOptions)).
const JAVA: Template = Template {
    comment: "//",
    user: "userId",
    names: ["useNewPath", "flagValue"],
    install: "# Maven (pom.xml, inside <dependencies>):\n\
              #   <dependency><groupId>dev.openfeature</groupId><artifactId>sdk</artifactId><version>1.20.2</version></dependency>\n\
              #   <dependency><groupId>dev.openfeature.contrib.providers</groupId><artifactId>ofrep</artifactId><version>0.0.2</version></dependency>\n\
              # Gradle (build.gradle, dependencies { ... }):\n\
              #   implementation 'dev.openfeature:sdk:1.20.2'\n\
              #   implementation 'dev.openfeature.contrib.providers:ofrep:0.0.2'",
    install_object: None,
    setup: r#"import dev.openfeature.contrib.providers.ofrep.OfrepProvider;
import dev.openfeature.contrib.providers.ofrep.OfrepProviderOptions;
import dev.openfeature.sdk.Client;
import dev.openfeature.sdk.EvaluationContext;
import dev.openfeature.sdk.ImmutableContext;
import dev.openfeature.sdk.OpenFeatureAPI;
{imports}
// Once at startup: flagwarden's OFREP endpoint becomes the provider
// (it appends /ofrep/v1/evaluate/flags/<key> to the base URL).
OpenFeatureAPI api = OpenFeatureAPI.getInstance();
api.setProviderAndWait(OfrepProvider.constructProvider(
        OfrepProviderOptions.builder().baseUrl({url}).build()));
Client client = api.getClient();
{note}"#,
    imports: [
        "",
        "import dev.openfeature.sdk.Value;\nimport java.util.List;\nimport java.util.Map;\n",
    ],
    context: "EvaluationContext flagContext = new ImmutableContext(userId);",
    evals: [
        "boolean {var} = client.getBooleanValue({key}, {fb}, flagContext);",
        "String {var} = client.getStringValue({key}, {fb}, flagContext);",
        "int {var} = client.getIntegerValue({key}, {fb}, flagContext);",
        "double {var} = client.getDoubleValue({key}, {fb}, flagContext);",
        "Value {var} = client.getObjectValue({key}, Value.objectToValue({fb}), flagContext);\n\
         // Compared as plain maps, so key order and Value wrappers don't matter.",
    ],
    conds: [
        "{var}",
        "{cand}.equals({var})",
        "{var} == {cand}",
        "{var} == {cand}",
        "{var}.isStructure() && {var}.asStructure().asObjectMap().equals({cand})",
    ],
    not: "!",
    open: "if ({cond}) {",
    middle: "} else {",
    close: "}",
    stop: "throw new UnsupportedOperationException({msg});",
    old: "// old path: the code that runs today, unchanged",
    test_cmd: "mvn test (or gradle test)",
    unit_test: r#"register the SDK's in-memory provider (dev.openfeature.sdk.providers.memory.InMemoryProvider and Flag) before the code under test, once with each default variant:

OpenFeatureAPI.getInstance().setProviderAndWait(new InMemoryProvider(Map.of({key},
        Flag.builder().variant("new", {cand}).variant("old", {fb}).defaultVariant("new").build())));
// ...assert the new path, then again with defaultVariant("old") for the old path"#,
};

// NuGet: OpenFeature 2.x (Api.Instance.SetProviderAsync, Get*ValueAsync(key, default, context),
// EvaluationContext.Builder().SetTargetingKey, Providers.Memory) and OpenFeature.Providers.Ofrep 0.1.5
// (new OfrepProvider(new OfrepConfiguration(baseUrl)); formerly OpenFeature.Contrib.Providers.Ofrep).
const CSHARP: Template = Template {
    comment: "//",
    user: "userId",
    names: ["useNewPath", "flagValue"],
    install: "dotnet add package OpenFeature\ndotnet add package OpenFeature.Providers.Ofrep",
    install_object: None,
    setup: r#"using OpenFeature;
using OpenFeature.Model;
using OpenFeature.Providers.Ofrep;
using OpenFeature.Providers.Ofrep.Configuration;
{imports}
// Once at startup: flagwarden's OFREP endpoint becomes the provider
// (it appends /ofrep/v1/evaluate/flags/<key> to the base URL).
await Api.Instance.SetProviderAsync(new OfrepProvider(new OfrepConfiguration({url})));
var client = Api.Instance.GetClient();
{note}"#,
    imports: [
        "",
        "using System.Collections.Immutable;\nusing System.Linq;\n",
    ],
    context: "var flagContext = EvaluationContext.Builder().SetTargetingKey(userId).Build();",
    evals: [
        "var {var} = await client.GetBooleanValueAsync({key}, {fb}, flagContext);",
        "var {var} = await client.GetStringValueAsync({key}, {fb}, flagContext);",
        "var {var} = await client.GetIntegerValueAsync({key}, {fb}, flagContext);",
        "var {var} = await client.GetDoubleValueAsync({key}, {fb}, flagContext);",
        "// OpenFeature's Value has no structural equality, so compare the trees.\n\
         static bool SameValue(Value a, Value b) => (a.AsStructure, b.AsStructure, a.AsList, b.AsList) switch\n{\n\
         \t(Structure x, Structure y, _, _) => x.Count == y.Count\n\
         \t\t&& x.All(kv => y.TryGetValue(kv.Key, out var v) && v is not null && SameValue(kv.Value, v)),\n\
         \t(_, _, IImmutableList<Value> x, IImmutableList<Value> y) => x.Count == y.Count\n\
         \t\t&& x.Zip(y).All(p => SameValue(p.First, p.Second)),\n\
         \t_ => Equals(a.AsObject, b.AsObject),\n};\n\
         var {var} = await client.GetObjectValueAsync({key}, {fb}, flagContext);",
    ],
    conds: [
        "{var}",
        "{var} == {cand}",
        "{var} == {cand}",
        "{var} == {cand}",
        "SameValue({var}, {cand})",
    ],
    not: "!",
    open: "if ({cond})\n{",
    middle: "}\nelse\n{",
    close: "}",
    stop: "throw new NotImplementedException({msg});",
    old: "// old path: the code that runs today, unchanged",
    test_cmd: "dotnet test",
    unit_test: r#"register the SDK's in-memory provider (OpenFeature.Providers.Memory) before the code under test, once with each default variant:

await Api.Instance.SetProviderAsync(new InMemoryProvider(new Dictionary<string, Flag>
{
    [{key}] = new Flag<{type}>(new Dictionary<string, {type}> { ["new"] = {cand}, ["old"] = {fb} }, "new"),
}));
// ...assert the new path, then again with "old" as the default variant for the old path"#,
};

fn template(language: Language) -> &'static Template {
    match language {
        Language::Rust => &RUST,
        Language::TypeScript => &TYPESCRIPT,
        Language::JavaScript => &JAVASCRIPT,
        Language::Python => &PYTHON,
        Language::Go => &GO,
        Language::Java => &JAVA,
        Language::CSharp => &CSHARP,
    }
}

/// Fills `{name}` holes in one pass, so a value that happens to contain `{cand}` stays as it is.
fn fill(text: &str, holes: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let hole = holes.iter().find(|(name, _)| {
            rest[1..].starts_with(name) && rest[1 + name.len()..].starts_with('}')
        });
        match hole {
            Some((name, value)) => {
                out.push_str(value);
                rest = &rest[name.len() + 2..];
            }
            None => {
                out.push('{');
                rest = &rest[1..];
            }
        }
    }
    out + rest
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

pub(super) struct Parts {
    pub install: String,
    pub setup: String,
    pub guard: Guard,
    pub test_plan: String,
}

/// A guard as lines, so the same text serves the standalone snippet and the diff.
pub(super) struct Guard {
    prelude: Vec<String>,
    open: Vec<String>,
    new_path: Vec<String>,
    middle: Vec<String>,
    close: Vec<String>,
    /// Stands for the old code in the standalone snippet.
    pub old_placeholder: String,
}

impl Guard {
    /// Lines at indentation `base`, the branches one `unit` deeper; `old` lines keep their own
    /// indentation and gain one `unit`, except those `verbatim` marks.
    pub fn render(&self, base: &str, unit: &str, old: &[&str], verbatim: &[bool]) -> Vec<String> {
        let at = |depth: &str, line: &String| {
            let body = line.trim_start_matches('\t');
            let nested = unit.repeat(line.len() - body.len());
            if body.is_empty() {
                String::new()
            } else {
                format!("{base}{depth}{nested}{body}")
            }
        };
        let mut out: Vec<String> = self
            .prelude
            .iter()
            .chain(&self.open)
            .map(|l| at("", l))
            .collect();
        out.extend(self.new_path.iter().map(|l| at(unit, l)));
        out.extend(self.middle.iter().map(|l| at("", l)));
        // Empty lines stay empty and lines inside a multi-line string stay as they are, so that
        // `cleanup` can take the unit off again and get the old text back byte for byte.
        out.extend(old.iter().zip(verbatim).map(|(l, &keep)| {
            if l.is_empty() || keep {
                (*l).to_owned()
            } else {
                format!("{unit}{l}")
            }
        }));
        out.extend(self.close.iter().map(|l| at("", l)));
        out
    }
}

/// Opens the first line of every guard, followed by the flag key and `:`; `cleanup` recognises a
/// guard by it. Changing it orphans the guards already written.
pub(super) const MARKER: &str = "flagwarden:";

pub(super) fn default_unit(language: Language) -> &'static str {
    match language {
        Language::Go => "\t",
        Language::TypeScript | Language::JavaScript => "  ",
        _ => "    ",
    }
}

pub(super) fn parts(req: &WrapRequest, compare: &Compare, description: &str) -> Parts {
    let (language, key) = (req.language, req.flag_key);
    let t = template(language);
    let c = t.comment;
    let (kind, object) = match compare {
        Compare::Bool { .. } => (0, false),
        Compare::Str { .. } => (1, false),
        Compare::Int { .. } => (2, false),
        Compare::Float { .. } => (3, false),
        Compare::Object { .. } => (4, true),
    };
    // A plain off/on flag reads best as a question; anything else is a value compared to the candidate.
    let plain = matches!(
        compare,
        Compare::Bool {
            fallback: false,
            candidate: true
        }
    );
    let var = t.names[usize::from(!plain)];
    let (fb, cand) = literals(language, compare);
    let cond = match compare {
        Compare::Bool {
            candidate: false, ..
        } => format!("{}{var}", t.not),
        _ => fill(t.conds[kind], &[("var", var), ("cand", &cand)]),
    };
    // Go's and Java's in-memory providers take the decoded or wrapped values, not the literals.
    let (fb_mem, cand_mem) = match (language, object) {
        (Language::Go, true) => ("fallback".to_owned(), "candidate".to_owned()),
        (Language::Java, true) => (
            format!("Value.objectToValue({fb})"),
            format!("Value.objectToValue({cand})"),
        ),
        _ => (fb.clone(), cand.clone()),
    };
    // Python's provider urljoins "ofrep/v1/" onto the base, which needs the final slash.
    let base_url = req.ofrep_base_url.trim_end_matches('/');
    let url = match language {
        Language::Python => quote(language, &format!("{base_url}/")),
        _ => quote(language, base_url),
    };
    let note = format!(
        "{c} The evaluation context comes from each request: the guard for `{key}` builds it from the\n\
         {c} caller's stable id (its targeting key, which flagwarden buckets percentage rollouts on)."
    );
    let msg = quote(
        language,
        &format!("flagwarden:{key}: new path not written yet"),
    );
    let k = quote(language, key);
    let type_name = ["bool", "string", "int", "double", "Value"][kind];
    let holes = [
        ("url", url.as_str()),
        ("imports", t.imports[usize::from(object)]),
        ("note", note.as_str()),
        ("var", var),
        ("key", k.as_str()),
        ("fb", fb.as_str()),
        ("cand", cand.as_str()),
        ("cond", cond.as_str()),
        ("msg", msg.as_str()),
        ("type", type_name),
    ];
    let mut prelude = vec![
        format!(
            "{c} {MARKER}{key}: the targeting key must be a stable id of the user (or account, or request) served:"
        ),
        format!(
            "{c} percentage rollouts bucket on it. Replace `{}` with yours.",
            t.user
        ),
    ];
    prelude.extend(lines(t.context));
    prelude.push(format!(
        "{c} On any evaluation error (flagwarden unreachable, flag missing) the code default, the old path, applies."
    ));
    prelude.extend(lines(&fill(t.evals[kind], &holes)));
    let guard = Guard {
        prelude,
        open: lines(&fill(t.open, &holes)),
        new_path: vec![
            format!("{c} TODO(flagwarden:{key}): new path: {description}"),
            fill(t.stop, &holes),
        ],
        middle: lines(t.middle),
        close: lines(t.close),
        old_placeholder: t.old.to_owned(),
    };
    let unit_test = fill(
        t.unit_test,
        &[
            ("key", &k),
            ("fb", &fb_mem),
            ("cand", &cand_mem),
            ("type", type_name),
        ],
    );
    let scope = match language {
        Language::Python => "",
        _ => {
            " Variables declared in the wrapped lines are now local to the else branch: hoist any that later code uses."
        }
    };
    let test_plan = format!(
        "How to test both paths of `{key}`:\n\n\
         1. Old path, today's behaviour: the code default is {fallback}, so while the flag serves its off variant \
         (a new flag starts off) or flagwarden is unreachable, the old path runs. Run the existing tests unchanged: `{test_cmd}`.\n\
         2. New path, end to end: run the app against flagwarden at {base_url} and, in a development environment, \
         serve the new value there: call the `set_targeting` tool for `{key}` with `default_variant` set to the \
         variant whose value is {candidate} (or with a rule matching only your test user). Check what the app will \
         see with `flagwarden eval {key} --env <dev-environment> --context '{{\"targetingKey\":\"qa-user-1\"}}'`, \
         exercise the change as that user, then set `default_variant` back to the off variant and check the old \
         path again.\n\
         3. Unit tests, no server: {unit_test}\n\
         4. Before rolling out: replace the TODO placeholder with the new code.{scope} Keep the old path until \
         `cleanup_flag` retires the flag.\n",
        fallback = req.fallback,
        candidate = req.candidate,
        test_cmd = t.test_cmd,
    );
    let install = t.install_object.filter(|_| object).unwrap_or(t.install);
    Parts {
        install: format!("{install}\n"),
        setup: fill(t.setup, &holes) + "\n",
        guard,
        test_plan,
    }
}

/// A string literal: Rust's escapes differ from JSON's, which the six others accept as they are.
fn quote(language: Language, s: &str) -> String {
    match language {
        Language::Rust => format!("{s:?}"),
        _ => Value::from(s).to_string(),
    }
}

/// A float literal; Debug keeps the `.0` of whole numbers, so `5.0` stays a float everywhere.
fn float(f: f64) -> String {
    format!("{f:?}")
}

/// (fallback, candidate) as literals of `language`.
fn literals(language: Language, compare: &Compare) -> (String, String) {
    let boolean = |b: bool| match (language, b) {
        (Language::Python, true) => "True".to_owned(),
        (Language::Python, false) => "False".to_owned(),
        _ => b.to_string(),
    };
    match *compare {
        Compare::Bool {
            fallback,
            candidate,
        } => (boolean(fallback), boolean(candidate)),
        Compare::Str {
            fallback,
            candidate,
        } => (quote(language, fallback), quote(language, candidate)),
        Compare::Int {
            fallback,
            candidate,
        } => (fallback.to_string(), candidate.to_string()),
        Compare::Float {
            fallback,
            candidate,
        } => (float(fallback), float(candidate)),
        Compare::Object {
            fallback,
            candidate,
        } => (literal(language, fallback), literal(language, candidate)),
    }
}

/// One flag value as the guard writes it, for `cleanup` to recognise the candidate it compares to.
pub(super) fn value_literal(language: Language, v: &Value) -> String {
    match v {
        Value::Bool(b) => {
            literals(
                language,
                &Compare::Bool {
                    fallback: *b,
                    candidate: *b,
                },
            )
            .0
        }
        Value::String(s) => quote(language, s),
        Value::Number(n) => match n.as_i64().filter(|i| i32::try_from(*i).is_ok()) {
            Some(i) => i.to_string(),
            None => float(n.as_f64().unwrap_or_default()),
        },
        other => literal(language, other),
    }
}

/// Number literal inside structured values: integers that fit 32 bits stay integers, others become
/// floats, as Java and C# store bigger JSON integers anyway.
fn number(n: &serde_json::Number) -> String {
    match n.as_i64().filter(|i| i32::try_from(*i).is_ok()) {
        Some(i) => i.to_string(),
        None => float(n.as_f64().unwrap_or_default()),
    }
}

/// A JSON value as a literal of `language`, for object flags.
fn literal(language: Language, v: &Value) -> String {
    use Language::*;
    // Rust's JSON conversion refuses nulls and so do Java's Map.of and List.of (its mapToStructure
    // drops null fields anyway), so those two leave nulls out.
    let keep = |x: &&Value| !(x.is_null() && matches!(language, Rust | Java));
    let items = |a: &Vec<Value>| -> Vec<String> {
        a.iter()
            .filter(keep)
            .map(|x| literal(language, x))
            .collect()
    };
    let fields = |f: &dyn Fn(String, String) -> String, separator: &str| match v {
        Value::Object(m) => {
            let kept = m.iter().filter(|(_, x)| keep(x));
            let each = kept.map(|(k, x)| f(quote(language, k), literal(language, x)));
            each.collect::<Vec<_>>().join(separator)
        }
        _ => String::new(),
    };
    match (language, v) {
        (TypeScript | JavaScript, _) => v.to_string(),
        // Go compares decoded JSON, so its literal is the JSON text, raw when it can be.
        (Go, _) if !v.to_string().contains('`') => format!("`{v}`"),
        (Go, _) => quote(Go, &v.to_string()),
        (Rust | Python, Value::Array(a)) => format!("[{}]", items(a).join(", ")),
        (Rust | Python, Value::Object(_)) => {
            format!("{{{}}}", fields(&|k, x| format!("{k}: {x}"), ", "))
        }
        (Rust, Value::String(s)) => quote(Rust, s),
        // An unsuffixed integer in json! is an i32, so bigger ones need their type.
        (Rust, Value::Number(n)) if n.is_i64() && number(n).contains('.') => format!("{n}i64"),
        (Rust, Value::Number(n)) if n.is_u64() && !n.is_i64() => format!("{n}u64"),
        (Python, Value::Null) => "None".to_owned(),
        (Python, Value::Bool(b)) => if *b { "True" } else { "False" }.to_owned(),
        (Java, Value::Array(a)) => format!("List.of({})", items(a).join(", ")),
        (Java, Value::Object(m)) if m.len() <= 10 => {
            format!("Map.of({})", fields(&|k, x| format!("{k}, {x}"), ", "))
        }
        (Java, Value::Object(_)) => format!(
            "Map.ofEntries({})",
            fields(&|k, x| format!("Map.entry({k}, {x})"), ", ")
        ),
        (Java, Value::Number(n)) => number(n),
        (CSharp, Value::Null) => "new Value()".to_owned(),
        (CSharp, Value::Number(n)) => format!("new Value({})", number(n)),
        (CSharp, Value::Array(a)) => {
            format!("new Value(new List<Value> {{ {} }})", items(a).join(", "))
        }
        (CSharp, Value::Object(_)) => {
            let sets = fields(&|k, x| format!(".Set({k}, {x})"), "");
            format!("new Value(Structure.Builder(){sets}.Build())")
        }
        (CSharp, other) => format!("new Value({other})"),
        (_, other) => other.to_string(),
    }
}
