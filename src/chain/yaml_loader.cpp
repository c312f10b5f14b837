#include "chain/yaml_loader.h"

#include <fmt/ranges.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "base/log.h"
#include "chain/lazy_llm.h"
#include "chain/llm_chain.h"
#include "chain/openai_client.h"
#include "chain/redis_store.h"
#include "chain/router_chain.h"
#include "chain/yaml_util.h"

namespace llmchain::chain {

namespace fs = std::filesystem;
using namespace yaml_util;

namespace {

struct Decl {
  Loc loc;
  YAML::Node node;
};

class Loader {
 public:
  explicit Loader(const LoadOptions& o) : opts_(o) {}

  void add_document(const std::string& file, const std::string& text);
  ChainConfig build();

 private:
  LanguageModelPtr model(const std::string& name, const Loc& at, const YAML::Node& where);
  LanguageModelPtr build_model(const std::string& name, const Decl& d);
  LanguageModelPtr lazy_local(LocalModelSpec spec, std::string where) const;
  ChainPtr chain(const std::string& name, const Loc& at, const YAML::Node& where);
  ChainPtr build_chain(const Loc& loc, const YAML::Node& n, const std::string& name);
  ChainPtr build_llm(const Loc& loc, const YAML::Node& n, const std::string& name);
  ChainPtr build_sequential(const Loc& loc, const YAML::Node& n, bool simple);
  ChainPtr build_router(const Loc& loc, const YAML::Node& n);
  ChainPtr step(const Loc& loc, const YAML::Node& n, const std::string& inline_name);
  std::shared_ptr<BasePromptTemplate> prompt(const Loc& loc, const YAML::Node& n);
  OutputParserPtr parser(const Loc& loc, const YAML::Node& n);
  ConversationMemoryPtr memory(const Loc& loc, const YAML::Node& n);
  std::vector<GuardPtr> guards(const Loc& loc, const YAML::Node& n, bool output);
  std::string resolve_path(const Loc& loc, const std::string& p) const;
  std::string memory_path(const Loc& loc, const std::string& p) const;
  std::string env(const std::string& name) const;

  const LoadOptions& opts_;
  std::map<std::string, Decl> model_decls_, chain_decls_;
  std::vector<std::pair<Loc, YAML::Node>> server_nodes_;
  std::map<std::string, LanguageModelPtr> models_;
  std::map<std::string, ChainPtr> chains_;
  std::set<std::string> building_;
  std::map<std::string, HistoryStorePtr> sqlite_stores_;
  std::map<std::string, HistoryStorePtr> redis_stores_;  // by url and key prefix
  std::vector<std::string> files_;
};

void Loader::add_document(const std::string& file, const std::string& text) {
  files_.push_back(file);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    fail(ErrorCode::kInvalidArgument, "{}:{}:{}: YAML syntax error: {}", file, e.mark.line + 1, e.mark.column + 1,
         e.msg);
  }
  check_expansion(file, root);
  Loc loc{file, ""};
  if (root.IsNull()) return;
  expect_map(loc, root);
  check_keys(loc, root, {"models", "chains", "server"});
  for (const char* section : {"models", "chains"}) {
    YAML::Node sec = root[section];
    if (!sec) continue;
    Loc sl = loc.child(section);
    if (sec.IsNull()) continue;
    expect_map(sl, sec);
    auto& decls = std::string(section) == "models" ? model_decls_ : chain_decls_;
    for (auto it = sec.begin(); it != sec.end(); ++it) {
      std::string name = it->first.as<std::string>();
      Loc dl = sl.child(name);
      if (auto prev = decls.find(name); prev != decls.end()) {
        fail_at(dl, it->first,
                fmt::format("'{}' is already defined at {}:{}", name, prev->second.loc.file,
                            prev->second.node.Mark().line + 1));
      }
      decls[name] = {dl, it->second};
    }
  }
  if (YAML::Node s = root["server"]) server_nodes_.push_back({loc.child("server"), s});
}

std::string Loader::env(const std::string& name) const {
  if (opts_.getenv) return opts_.getenv(name);
  const char* v = std::getenv(name.c_str());
  return v ? v : "";
}

// Memory databases: absolute paths as written; relative ones under $LLMCHAIN_MEMORY_DIR when
// set (a writable volume in a container whose config is mounted read-only), else beside the
// YAML file.
std::string Loader::memory_path(const Loc& loc, const std::string& p) const {
  std::string dir = env("LLMCHAIN_MEMORY_DIR");
  if (dir.empty() || fs::path(p).is_absolute() || p == ":memory:") return resolve_path(loc, p);
  return (fs::path(dir) / p).lexically_normal().string();
}

std::string Loader::resolve_path(const Loc& loc, const std::string& p) const {
  fs::path path(p);
  if (path.is_absolute() || p == ":memory:") return p;
  fs::path base = fs::path(loc.file).parent_path();
  return (base / path).lexically_normal().string();
}

// ---- models ----

LanguageModelPtr Loader::model(const std::string& requested, const Loc& at, const YAML::Node& where) {
  std::string name = opts_.model_override.empty() ? requested : opts_.model_override;
  if (auto it = models_.find(name); it != models_.end()) return it->second;
  auto d = model_decls_.find(name);
  if (d == model_decls_.end()) {
    if (!opts_.model_override.empty() && name.size() > 5 && name.substr(name.size() - 5) == ".gguf") {
      if (!opts_.local_model_factory) fail(ErrorCode::kUnsupported, "model '{}': no local model factory", name);
      return models_[name] = lazy_local(LocalModelSpec{name, name, Json::object()}, name);
    }
    std::vector<std::string> known;
    for (const auto& [k, v] : model_decls_) known.push_back(k);
    if (!opts_.model_override.empty()) {
      fail(ErrorCode::kInvalidArgument, "model override '{}' is not defined (models: {})", name,
           fmt::join(known, ", "));
    }
    fail_at(at, where, fmt::format("model '{}' is not defined (models: {})", name, fmt::join(known, ", ")));
  }
  return models_[name] = build_model(name, d->second);
}

// Local models load on first use (chain/lazy_llm.h): `chain list` and chains that never call a
// model do not load GGUF files. A load failure names the declaration.
LanguageModelPtr Loader::lazy_local(LocalModelSpec spec, std::string where) const {
  std::string name = spec.name;
  return std::make_shared<LazyLLM>(name,
                                   [factory = opts_.local_model_factory, spec = std::move(spec),
                                    where = std::move(where)]() -> Expected<LanguageModelPtr> {
                                     auto m = factory(spec);
                                     if (!m.ok())
                                       return Error(m.error().code(),
                                                    fmt::format("{}: {}", where, m.error().message()));
                                     return m;
                                   });
}

LanguageModelPtr Loader::build_model(const std::string& name, const Decl& d) {
  const Loc& loc = d.loc;
  const YAML::Node& n = d.node;
  expect_map(loc, n);
  std::string type = get_string(loc, n, "type", "");
  if (type.empty()) {
    type = n["path"] ? "local" : n["base_url"] ? "remote" : n["responses"] ? "fake" : "";
    if (type.empty()) fail_at(loc, n, "cannot tell the model type: give path (local), base_url (remote) or type");
  }
  LlmParams params;
  if (YAML::Node p = n["params"]) params = params_from(loc.child("params"), p);
  if (type == "local") {
    Json options = to_json(n);
    options.erase("path");
    options.erase("type");
    LocalModelSpec spec{name, resolve_path(loc, get_string(loc, n, "path", "", true)), options};
    if (!opts_.local_model_factory) {
      fail_at(loc, n, "local models need the inference engine, which this program did not provide");
    }
    // params travel in spec.options["params"]; the factory applies them
    return lazy_local(std::move(spec), fmt::format("{}:{}: {}", loc.file, n.Mark().line + 1, loc.path));
  }
  if (type == "remote" || type == "openai") {
    check_keys(loc, n,
               {"type", "base_url", "api_key_env", "api_key", "model", "timeout_s", "connect_timeout_s", "max_retries",
                "backoff_initial_s", "backoff_max_s", "use_completions_endpoint", "json_schema", "params"});
    OpenAIOptions o;
    o.base_url = get_string(loc, n, "base_url", "", true);
    o.model = get_string(loc, n, "model", "");
    o.api_key = get_string(loc, n, "api_key", "");
    std::string key_env = get_string(loc, n, "api_key_env", "");
    if (!key_env.empty()) {
      o.api_key = env(key_env);
      if (o.api_key.empty())
        LLMC_LOG_WARN("{}: environment variable {} is not set; sending no API key", loc.path, key_env);
    }
    o.timeout_s = get_double(loc, n, "timeout_s", o.timeout_s);
    o.connect_timeout_s = get_double(loc, n, "connect_timeout_s", o.connect_timeout_s);
    o.max_retries = static_cast<int>(get_int(loc, n, "max_retries", o.max_retries));
    o.backoff_initial_s = get_double(loc, n, "backoff_initial_s", o.backoff_initial_s);
    o.backoff_max_s = get_double(loc, n, "backoff_max_s", o.backoff_max_s);
    o.use_completions_endpoint = get_bool(loc, n, "use_completions_endpoint", false);
    o.json_schema = get_bool(loc, n, "json_schema", true);
    o.defaults = params;
    try {
      return std::make_shared<OpenAIClient>(o);
    } catch (const Error& e) {
      fail_at(loc.child("base_url"), n["base_url"], e.message());
    }
  }
  if (type == "fake") {
    check_keys(loc, n, {"type", "responses", "json_schema", "params"});
    std::vector<std::string> responses = get_string_list(loc, n, "responses");
    if (responses.empty()) responses.push_back("");
    auto fake = std::make_shared<FakeLLM>(responses);
    fake->set_model_name(name);
    fake->set_supports_json_schema(get_bool(loc, n, "json_schema", false));
    return fake;
  }
  fail_at(loc.child("type"), n["type"], fmt::format("unknown model type '{}' (expected local, remote or fake)", type));
}

// ---- chains ----

ChainPtr Loader::chain(const std::string& name, const Loc& at, const YAML::Node& where) {
  if (auto it = chains_.find(name); it != chains_.end()) return it->second;
  auto d = chain_decls_.find(name);
  if (d == chain_decls_.end()) {
    std::vector<std::string> known;
    for (const auto& [k, v] : chain_decls_) known.push_back(k);
    fail_at(at, where, fmt::format("unknown step '{}' (chains: {})", name, fmt::join(known, ", ")));
  }
  if (building_.count(name)) fail_at(at, where, fmt::format("chain '{}' refers to itself", name));
  building_.insert(name);
  ChainPtr c = build_chain(d->second.loc, d->second.node, name);
  building_.erase(name);
  return chains_[name] = c;
}

ChainPtr Loader::build_chain(const Loc& loc, const YAML::Node& n, const std::string& name) {
  expect_map(loc, n);
  std::string type = get_string(loc, n, "type", "llm");
  ChainPtr c;
  if (type == "llm") {
    c = build_llm(loc, n, name);
  } else if (type == "sequential" || type == "simple_sequential") {
    c = build_sequential(loc, n, type == "simple_sequential");
  } else if (type == "router") {
    c = build_router(loc, n);
  } else {
    fail_at(loc.child("type"), n["type"],
            fmt::format("unknown chain type '{}' (expected llm, sequential, simple_sequential or router)", type));
  }
  c->set_name(name);
  return c;
}

ChainPtr Loader::build_llm(const Loc& loc, const YAML::Node& n, const std::string& name) {
  check_keys(loc, n,
             {"type", "description", "model", "prompt", "input_variables", "params", "output_key", "parser",
              "parse_retries", "memory", "guards"});
  if (!n["model"] && opts_.model_override.empty()) fail_at(loc, n, "missing key 'model'");
  LanguageModelPtr llm = model(get_string(loc, n, "model", ""), loc.child("model"), n["model"] ? n["model"] : n);
  if (!n["prompt"]) fail_at(loc, n, "missing key 'prompt'");
  auto p = prompt(loc.child("prompt"), n["prompt"]);
  LLMChainOptions o;
  if (YAML::Node pn = n["params"]) o.params = params_from(loc.child("params"), pn);
  if (YAML::Node pn = n["parser"]) o.parser = parser(loc.child("parser"), pn);
  o.parse_retries = static_cast<int>(get_int(loc, n, "parse_retries", o.parse_retries));
  // `retry: N` on the parser: re-ask the model up to N times with the parse error appended.
  if (YAML::Node pn = n["parser"]; pn && pn.IsMap() && pn["retry"]) {
    if (n["parse_retries"]) fail_at(loc, n, "set either parse_retries or parser.retry, not both");
    int64_t retry = get_int(loc.child("parser"), pn, "retry", 0);
    if (retry < 0 || retry > 10) fail_at(loc.child("parser").child("retry"), pn["retry"], "retry must be 0..10");
    o.parse_retries = static_cast<int>(retry);
  }
  if (YAML::Node mn = n["memory"]) o.memory = memory(loc.child("memory"), mn);
  if (YAML::Node gn = n["guards"]) {
    Loc gl = loc.child("guards");
    expect_map(gl, gn);
    check_keys(gl, gn, {"input", "output"});
    if (gn["input"]) o.input_guards = guards(gl.child("input"), gn["input"], false);
    if (gn["output"]) o.output_guards = guards(gl.child("output"), gn["output"], true);
  }
  std::string output_key = get_string(loc, n, "output_key", "text");
  std::shared_ptr<LLMChain> c;
  try {
    c = std::make_shared<LLMChain>(llm, p, output_key, o);
  } catch (const Error& e) {
    fail_at(loc, n, e.message());
  }
  if (YAML::Node iv = n["input_variables"]) {
    Loc il = loc.child("input_variables");
    auto declared = get_string_list(loc, n, "input_variables");
    for (const auto& v : c->input_keys()) {
      if (std::find(declared.begin(), declared.end(), v) == declared.end()) {
        fail_at(il, iv,
                fmt::format("missing variable: the prompt uses '{}', which is not in input_variables ({})", v,
                            fmt::join(declared, ", ")));
      }
    }
  }
  (void)name;
  return c;
}

ChainPtr Loader::step(const Loc& loc, const YAML::Node& n, const std::string& inline_name) {
  if (n.IsScalar()) return chain(n.as<std::string>(), loc, n);
  expect_map(loc, n);
  if (n["chain"]) {
    check_keys(loc, n, {"chain"});
    return chain(get_string(loc, n, "chain", "", true), loc.child("chain"), n["chain"]);
  }
  ChainPtr c = build_chain(loc, n, inline_name);
  return c;
}

ChainPtr Loader::build_sequential(const Loc& loc, const YAML::Node& n, bool simple) {
  check_keys(loc, n, {"type", "description", "steps", "input_variables", "output_variables"});
  if (!n["steps"]) fail_at(loc, n, "missing key 'steps'");
  Loc sl = loc.child("steps");
  YAML::Node steps_node = n["steps"];
  expect_seq(sl, steps_node);
  if (steps_node.size() == 0) fail_at(sl, steps_node, "no steps");
  std::vector<ChainPtr> steps;
  for (size_t i = 0; i < steps_node.size(); ++i) {
    steps.push_back(step(sl.index(i), steps_node[i], fmt::format("{}[{}]", sl.path, i)));
  }
  if (simple) {
    try {
      return std::make_shared<SimpleSequentialChain>(steps);
    } catch (const Error& e) {
      fail_at(sl, steps_node, e.message());
    }
  }
  if (!n["input_variables"]) fail_at(loc, n, "missing key 'input_variables'");
  auto inputs = get_string_list(loc, n, "input_variables");
  auto outputs = get_string_list(loc, n, "output_variables");
  if (auto problem = SequentialChain::validate(steps, inputs, outputs)) {
    if (problem->step < steps.size()) fail_at(sl.index(problem->step), steps_node[problem->step], problem->message);
    fail_at(loc.child("output_variables"), n["output_variables"], problem->message);
  }
  return std::make_shared<SequentialChain>(steps, inputs, outputs);
}

ChainPtr Loader::build_router(const Loc& loc, const YAML::Node& n) {
  check_keys(loc, n, {"type", "description", "router", "destinations", "default"});
  if (!n["default"]) fail_at(loc, n, "missing key 'default'");
  ChainPtr def = step(loc.child("default"), n["default"], loc.path + ".default");
  std::vector<Destination> dests;
  if (YAML::Node dn = n["destinations"]) {
    Loc dl = loc.child("destinations");
    expect_map(dl, dn);
    for (auto it = dn.begin(); it != dn.end(); ++it) {
      std::string dname = it->first.as<std::string>();
      Loc l = dl.child(dname);
      YAML::Node v = it->second;
      Destination d{dname, "", nullptr};
      if (v.IsMap() && v["description"]) {
        check_keys(l, v, {"description", "chain"});
        d.description = get_string(l, v, "description", "");
        if (!v["chain"]) fail_at(l, v, "missing key 'chain'");
        d.chain = step(l.child("chain"), v["chain"], l.path);
      } else {
        d.chain = step(l, v, l.path);
      }
      dests.push_back(std::move(d));
    }
  }
  if (!n["router"]) fail_at(loc, n, "missing key 'router'");
  Loc rl = loc.child("router");
  YAML::Node rn = n["router"];
  expect_map(rl, rn);
  check_keys(rl, rn, {"model", "prompt", "params", "rules"});
  try {
    if (YAML::Node rules = rn["rules"]) {
      struct RuleSpec {
        std::string key, destination;
        std::vector<std::string> contains;
      };
      std::vector<RuleSpec> specs;
      Loc rul = rl.child("rules");
      expect_seq(rul, rules);
      for (size_t i = 0; i < rules.size(); ++i) {
        Loc l = rul.index(i);
        YAML::Node r = rules[i];
        expect_map(l, r);
        check_keys(l, r, {"key", "contains", "destination"});
        RuleSpec s{get_string(l, r, "key", ""), get_string(l, r, "destination", "", true),
                   get_string_list(l, r, "contains")};
        if (std::none_of(dests.begin(), dests.end(), [&](const Destination& d) { return d.name == s.destination; })) {
          fail_at(l.child("destination"), r["destination"], fmt::format("unknown destination '{}'", s.destination));
        }
        for (auto& w : s.contains) std::transform(w.begin(), w.end(), w.begin(), ::tolower);
        specs.push_back(std::move(s));
      }
      std::string first_key = def->input_keys()[0];
      auto rule = [specs, first_key](const Json& input) -> std::string {
        for (const auto& s : specs) {
          const std::string& key = s.key.empty() ? first_key : s.key;
          if (!input.contains(key)) continue;
          std::string text = value_to_prompt_text(input[key]);
          std::transform(text.begin(), text.end(), text.begin(), ::tolower);
          for (const auto& w : s.contains) {
            if (text.find(w) != std::string::npos) return s.destination;
          }
        }
        return "";
      };
      return std::make_shared<RouterChain>(dests, def, rule);
    }
    if (!rn["model"] && opts_.model_override.empty()) fail_at(rl, rn, "give either model (a classifier) or rules");
    LanguageModelPtr classifier =
        model(get_string(rl, rn, "model", ""), rl.child("model"), rn["model"] ? rn["model"] : rn);
    LlmParams params;
    if (YAML::Node pn = rn["params"]) params = params_from(rl.child("params"), pn);
    return std::make_shared<RouterChain>(dests, def, classifier, get_string(rl, rn, "prompt", ""), params);
  } catch (const Error& e) {
    if (std::string(e.what()).find(loc.file + ":") == 0) throw;
    fail_at(loc, n, e.message());
  }
}

// ---- parts ----

std::shared_ptr<BasePromptTemplate> Loader::prompt(const Loc& loc, const YAML::Node& n) {
  try {
    if (n.IsScalar()) return std::make_shared<PromptTemplate>(n.as<std::string>());
    expect_map(loc, n);
    check_keys(loc, n, {"template", "format", "partial", "messages"});
    std::string fmt_name = get_string(loc, n, "format", "fstring");
    TemplateFormat f = TemplateFormat::kFString;
    if (fmt_name == "jinja" || fmt_name == "jinja2") {
      f = TemplateFormat::kJinja;
    } else if (fmt_name != "fstring") {
      fail_at(loc.child("format"), n["format"], fmt::format("unknown prompt format '{}' (fstring or jinja)", fmt_name));
    }
    Json partial = n["partial"] ? to_json(n["partial"]) : Json::object();
    if (n["template"] && n["messages"]) fail_at(loc, n, "give either template or messages, not both");
    if (n["template"]) {
      auto t = std::make_shared<PromptTemplate>(get_string(loc, n, "template", "", true), f);
      return partial.empty() ? t : t->partial(partial);
    }
    if (!n["messages"]) fail_at(loc, n, "missing key 'template' or 'messages'");
    Loc ml = loc.child("messages");
    YAML::Node msgs = n["messages"];
    expect_seq(ml, msgs);
    std::vector<ChatPart> parts;
    for (size_t i = 0; i < msgs.size(); ++i) {
      Loc l = ml.index(i);
      YAML::Node m = msgs[i];
      expect_map(l, m);
      if (m["placeholder"]) {
        check_keys(l, m, {"placeholder", "optional"});
        parts.emplace_back(
            MessagesPlaceholder{get_string(l, m, "placeholder", "", true), get_bool(l, m, "optional", false)});
        continue;
      }
      if (m["role"]) {
        check_keys(l, m, {"role", "content"});
        parts.emplace_back(get_string(l, m, "role", "", true), get_string(l, m, "content", "", true), f);
        continue;
      }
      if (m.size() != 1) fail_at(l, m, "a message is {role: text}, {role:, content:} or {placeholder: name}");
      auto it = m.begin();
      std::string role = it->first.as<std::string>();
      static const std::set<std::string> kRoles = {"system", "user", "assistant", "human", "ai"};
      if (!kRoles.count(role)) fail_at(l, it->first, fmt::format("unknown role '{}' (system, user, assistant)", role));
      if (!it->second.IsScalar()) fail_at(l.child(role), it->second, "expected a string");
      parts.emplace_back(role, it->second.as<std::string>(), f);
    }
    auto c = std::make_shared<ChatPromptTemplate>(parts);
    return partial.empty() ? std::shared_ptr<BasePromptTemplate>(c) : c->partial(partial);
  } catch (const Error& e) {
    if (std::string(e.what()).find(loc.file + ":") == 0) throw;
    fail_at(loc, n, e.message());
  }
}

OutputParserPtr Loader::parser(const Loc& loc, const YAML::Node& n) {
  std::string type;
  if (n.IsScalar()) {
    type = n.as<std::string>();
  } else {
    expect_map(loc, n);
    check_keys(loc, n, {"type", "schema", "pattern", "trim", "ignore_case", "retry"});
    type = get_string(loc, n, "type", "", true);
  }
  try {
    if (type == "str" || type == "string")
      return std::make_shared<StrOutputParser>(n.IsMap() && get_bool(loc, n, "trim", false));
    if (type == "json") {
      if (n.IsMap() && n["schema"]) {
        expect_map(loc.child("schema"), n["schema"]);
        return std::make_shared<JsonOutputParser>(to_json(n["schema"]));
      }
      return std::make_shared<JsonOutputParser>();
    }
    if (type == "list" || type == "comma_list") return std::make_shared<CommaSeparatedListParser>();
    if (type == "regex") {
      if (!n.IsMap()) fail_at(loc, n, "a regex parser needs {type: regex, pattern: ...}");
      return std::make_shared<RegexParser>(get_string(loc, n, "pattern", "", true),
                                           get_bool(loc, n, "ignore_case", false));
    }
  } catch (const Error& e) {
    if (std::string(e.what()).find(loc.file + ":") == 0) throw;
    fail_at(loc, n, e.message());
  }
  fail_at(loc, n, fmt::format("unknown parser '{}' (str, json, list, regex)", type));
}

ConversationMemoryPtr Loader::memory(const Loc& loc, const YAML::Node& n) {
  expect_map(loc, n);
  check_keys(loc, n,
             {"type", "k", "max_tokens", "memory_key", "input_key", "store", "path", "url", "key_prefix", "ttl",
              "human_prefix", "ai_prefix"});
  MemoryOptions o;
  std::string type = get_string(loc, n, "type", "buffer");
  if (type == "buffer") {
    o.kind = MemoryOptions::Kind::kBuffer;
  } else if (type == "window") {
    o.kind = MemoryOptions::Kind::kWindow;
  } else if (type == "token_budget") {
    o.kind = MemoryOptions::Kind::kTokenBudget;
  } else {
    fail_at(loc.child("type"), n["type"], fmt::format("unknown memory type '{}' (buffer, window, token_budget)", type));
  }
  int64_t k = get_int(loc, n, "k", static_cast<int64_t>(o.k));
  if (k < 1) fail_at(loc.child("k"), n["k"], "k must be >= 1");
  o.k = static_cast<size_t>(k);
  int64_t max_tokens = get_int(loc, n, "max_tokens", static_cast<int64_t>(o.max_tokens));
  if (max_tokens < 1) fail_at(loc.child("max_tokens"), n["max_tokens"], "max_tokens must be >= 1");
  o.max_tokens = static_cast<size_t>(max_tokens);
  o.memory_key = get_string(loc, n, "memory_key", o.memory_key);
  o.input_key = get_string(loc, n, "input_key", "");
  o.human_prefix = get_string(loc, n, "human_prefix", o.human_prefix);
  o.ai_prefix = get_string(loc, n, "ai_prefix", o.ai_prefix);
  std::string store = get_string(loc, n, "store", "memory");
  std::string key_prefix = get_string(loc, n, "key_prefix", "");
  // LLMCHAIN_MEMORY_STORE=redis moves every persistent (sqlite) memory of the file into Redis
  // (key prefix from the database's file name), so replicas share sessions without edits.
  if (store == "sqlite" && env("LLMCHAIN_MEMORY_STORE") == "redis") {
    store = "redis";
    if (key_prefix.empty()) {
      key_prefix = "llmchain:" + fs::path(get_string(loc, n, "path", "", true)).stem().string() + ":";
    }
  }
  HistoryStorePtr s;
  if (store == "sqlite") {
    std::string path = memory_path(loc, get_string(loc, n, "path", "", true));
    auto& cached = sqlite_stores_[path];
    if (!cached) {
      std::string where = fmt::format("{}:{}: {}", loc.file, n["path"].Mark().line + 1, loc.child("path").path);
      cached = std::make_shared<LazyHistoryStore>([path, where]() -> Expected<HistoryStorePtr> {
        std::error_code ec;
        fs::path parent = fs::path(path).parent_path();
        if (!parent.empty()) fs::create_directories(parent, ec);
        auto opened = SqliteHistoryStore::open(path);
        if (!opened.ok()) return Error(opened.error().code(), fmt::format("{}: {}", where, opened.error().message()));
        return HistoryStorePtr(*opened);
      });
    }
    s = cached;
  } else if (store == "redis") {
    RedisStoreOptions ro;
    std::string default_url = env("LLMCHAIN_REDIS_URL");
    ro.url = get_string(loc, n, "url", default_url.empty() ? ro.url : default_url);
    if (!key_prefix.empty()) ro.key_prefix = key_prefix;
    int64_t ttl = get_int(loc, n, "ttl", 0);
    if (ttl < 0) fail_at(loc.child("ttl"), n["ttl"], "ttl must be >= 0 seconds (0: sessions never expire)");
    ro.ttl = std::chrono::seconds(ttl);
    auto& cached = redis_stores_[ro.url + "\n" + ro.key_prefix];
    if (!cached) {
      auto opened = RedisHistoryStore::open(ro);
      if (!opened.ok()) {
        const char* field = n["url"] ? "url" : "store";  // a bad url is the url's fault; none given: the store's
        fail_at(loc.child(field), n[field], opened.error().message());
      }
      cached = *opened;
    }
    s = cached;
  } else if (store != "memory") {
    fail_at(loc.child("store"), n["store"], fmt::format("unknown memory store '{}' (memory, sqlite or redis)", store));
  }
  return std::make_shared<ConversationMemory>(o, s);
}

std::vector<GuardPtr> Loader::guards(const Loc& loc, const YAML::Node& n, bool output) {
  expect_seq(loc, n);
  std::vector<GuardPtr> out;
  for (size_t i = 0; i < n.size(); ++i) {
    Loc l = loc.index(i);
    YAML::Node g = n[i];
    expect_map(l, g);
    check_keys(l, g, {"type", "action", "max", "terms", "patterns", "kinds"});
    std::string type = get_string(l, g, "type", "", true);
    try {
      GuardAction action = parse_guard_action(get_string(l, g, "action", "block"));
      if (type == "max_length") {
        int64_t max = get_int(l, g, "max", -1);
        if (max < 0) fail_at(l, g, "max_length needs max: N");
        out.push_back(std::make_shared<MaxLengthGuard>(static_cast<size_t>(max), action));
      } else if (type == "deny_list") {
        out.push_back(
            std::make_shared<DenyListGuard>(get_string_list(l, g, "terms"), get_string_list(l, g, "patterns"), action));
      } else if (type == "pii" && !output) {
        PiiGuard::Kinds kinds;
        if (g["kinds"]) {
          kinds = {false, false, false};
          for (const auto& k : get_string_list(l, g, "kinds")) {
            if (k == "email") {
              kinds.email = true;
            } else if (k == "phone") {
              kinds.phone = true;
            } else if (k == "card") {
              kinds.card = true;
            } else {
              fail_at(l.child("kinds"), g["kinds"], fmt::format("unknown PII kind '{}' (email, phone, card)", k));
            }
          }
        }
        out.push_back(std::make_shared<PiiGuard>(action, kinds));
      } else if ((type == "json" || type == "json_validity") && output) {
        out.push_back(std::make_shared<JsonValidityGuard>(action));
      } else {
        fail_at(l.child("type"), g["type"],
                fmt::format("unknown {} guard '{}' ({})", output ? "output" : "input", type,
                            output ? "deny_list, json, max_length" : "deny_list, max_length, pii"));
      }
    } catch (const Error& e) {
      if (std::string(e.what()).find(l.file + ":") == 0) throw;
      fail_at(l, g, e.message());
    }
  }
  return out;
}

ChainConfig Loader::build() {
  ChainConfig cfg;
  cfg.registry = std::make_shared<ChainRegistry>();
  for (const auto& [name, d] : chain_decls_) {
    ChainPtr c = chain(name, d.loc, d.node);
    cfg.registry->add(name, c, d.node.IsMap() ? get_string(d.loc, d.node, "description", "") : "");
  }
  for (const auto& [loc, n] : server_nodes_) {
    if (n.IsNull()) continue;
    expect_map(loc, n);
    Json raw = to_json(n);
    for (auto it = raw.begin(); it != raw.end(); ++it) cfg.server.raw[it.key()] = it.value();
    cfg.server.host = get_string(loc, n, "host", cfg.server.host);
    int64_t port = get_int(loc, n, "port", cfg.server.port);
    if (port < 0 || port > 65535) fail_at(loc.child("port"), n["port"], "port must be in 0..65535");
    cfg.server.port = static_cast<int>(port);
  }
  cfg.models = models_;
  cfg.files = files_;
  return cfg;
}

}  // namespace

// capture() plus yaml-cpp's own exceptions (they carry a mark but no file name).
template <typename Fn>
Expected<ChainConfig> load_guarded(Fn&& fn) {
  try {
    return fn();
  } catch (const Error& e) {
    return e;
  } catch (const YAML::Exception& e) {
    return Error(ErrorCode::kInvalidArgument, fmt::format("line {}: {}", e.mark.line + 1, e.msg));
  } catch (const nlohmann::json::exception& e) {  // a value the JSON side cannot take (e.g. bytes that are not UTF-8)
    LLMC_LOG_DEBUG("chain config: {}", e.what());
    return Error(ErrorCode::kInvalidArgument,
                 "a value in the file is not valid here (not UTF-8 text, or the wrong type)");
  } catch (const std::exception& e) {
    LLMC_LOG_DEBUG("chain config: {}", e.what());
    return Error(ErrorCode::kInvalidArgument, "the file could not be loaded");
  }
}

Expected<ChainConfig> load_chain_config_string(const std::string& yaml, const std::string& filename,
                                               const LoadOptions& options) {
  return load_guarded([&] {
    Loader l(options);
    l.add_document(filename, yaml);
    return l.build();
  });
}

Expected<ChainConfig> load_chain_config(const std::string& path, const LoadOptions& options) {
  return load_guarded([&] {
    std::vector<std::string> files;
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      for (const auto& e : fs::directory_iterator(path)) {
        auto ext = e.path().extension().string();
        if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(e.path().string());
      }
      std::sort(files.begin(), files.end());
      if (files.empty()) fail(ErrorCode::kNotFound, "{}: no *.yaml or *.yml files", path);
    } else {
      files.push_back(path);
    }
    Loader l(options);
    for (const auto& f : files) {
      std::ifstream in(f, std::ios::binary);
      if (!in) fail(ErrorCode::kNotFound, "{}: cannot open", f);
      std::stringstream ss;
      ss << in.rdbuf();
      l.add_document(f, ss.str());
    }
    return l.build();
  });
}

}  // namespace llmchain::chain
