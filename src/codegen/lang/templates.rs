//! The per-language tables: one `Template` of plain text with `{name}` holes per language, so what an
//! agent receives can be read here as it is. Package and API names were checked against the published
//! packages and the OpenFeature SDK and contrib sources; the comment above each template says which.
//! Guard lines mark nesting with leading tabs, which `Guard::render` turns into the file's indentation.

use crate::codegen::Language;

/// One language's text. Per-kind arrays are indexed boolean, string, integer, float, object.
pub(super) struct Template {
    pub(super) comment: &'static str,
    pub(super) user: &'static str,
    /// The evaluated value's name: for a plain off/on boolean, else for a value compared to the candidate.
    pub(super) names: [&'static str; 2],
    pub(super) install: &'static str,
    /// Replaces `install` for object flags, when those need more.
    pub(super) install_object: Option<&'static str>,
    /// `{url}`, `{imports}` and `{note}` are filled in.
    pub(super) setup: &'static str,
    /// Imports for the setup: plain flags, then object flags.
    pub(super) imports: [&'static str; 2],
    /// Builds the evaluation context in the guard.
    pub(super) context: &'static str,
    pub(super) evals: [&'static str; 5],
    pub(super) conds: [&'static str; 5],
    /// Negates a boolean, for a flag whose candidate is `false`.
    pub(super) not: &'static str,
    pub(super) open: &'static str,
    pub(super) middle: &'static str,
    pub(super) close: &'static str,
    /// Stops the unwritten new path loudly: `{msg}`.
    pub(super) stop: &'static str,
    /// Stands for the old code in the standalone guard.
    pub(super) old: &'static str,
    pub(super) test_cmd: &'static str,
    pub(super) unit_test: &'static str,
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

pub(super) fn template(language: Language) -> &'static Template {
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
