#include "chain/registry.h"

#include <mutex>

#include "chain/llm_chain.h"
#include "chain/router_chain.h"

namespace llmchain::chain {

namespace {

std::string derive_type(const Runnable& r) {
  if (dynamic_cast<const LLMChain*>(&r)) return "llm";
  if (dynamic_cast<const SequentialChain*>(&r)) return "sequential";
  if (dynamic_cast<const SimpleSequentialChain*>(&r)) return "simple_sequential";
  if (dynamic_cast<const RouterChain*>(&r)) return "router";
  return "runnable";
}

std::vector<std::string> derive_inputs(const Runnable& r) {
  if (auto* c = dynamic_cast<const Chain*>(&r)) return c->input_keys();
  Json s = r.input_schema();
  std::vector<std::string> out;
  if (s.contains("required") && s["required"].is_array()) {
    for (const auto& k : s["required"]) {
      if (k.is_string()) out.push_back(k.get<std::string>());
    }
  }
  return out;
}

template <typename Fn>
auto guarded(Fn&& fn) -> Expected<decltype(fn())> {
  try {
    return fn();
  } catch (const Error& e) {
    return e;
  } catch (const nlohmann::json::exception& e) {
    return Error(ErrorCode::kInvalidArgument, e.what());
  } catch (const std::bad_alloc&) {
    return Error(ErrorCode::kResourceExhausted, "out of memory");
  } catch (const std::exception& e) {
    return Error(ErrorCode::kInternal, e.what());
  }
}

}  // namespace

void ChainRegistry::add(const std::string& name, RunnablePtr chain, std::string description, std::string type) {
  Entry e;
  e.info.name = name;
  e.info.description = std::move(description);
  e.info.type = type.empty() ? derive_type(*chain) : std::move(type);
  e.info.input_variables = derive_inputs(*chain);
  e.runnable = std::move(chain);
  std::unique_lock lock(mu_);
  entries_[name] = std::move(e);
}

bool ChainRegistry::remove(const std::string& name) {
  std::unique_lock lock(mu_);
  return entries_.erase(name) > 0;
}

bool ChainRegistry::contains(const std::string& name) const {
  std::shared_lock lock(mu_);
  return entries_.count(name) > 0;
}

std::vector<ChainInfo> ChainRegistry::list() const {
  std::shared_lock lock(mu_);
  std::vector<ChainInfo> out;
  for (const auto& [k, e] : entries_) out.push_back(e.info);
  return out;
}

Expected<ChainRegistry::Entry> ChainRegistry::find(const std::string& name) const {
  std::shared_lock lock(mu_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return Error(ErrorCode::kNotFound, fmt::format("chain '{}' not found", name));
  return it->second;
}

Expected<ChainInfo> ChainRegistry::info(const std::string& name) const {
  auto e = find(name);
  if (!e.ok()) return e.error();
  return e->info;
}

Expected<RunnablePtr> ChainRegistry::get(const std::string& name) const {
  auto e = find(name);
  if (!e.ok()) return e.error();
  return e->runnable;
}

Json ChainRegistry::shape_output(const Runnable& r, Json out) {
  auto* c = dynamic_cast<const Chain*>(&r);
  if (!c || !out.is_object()) return out;
  auto keys = c->output_keys();
  if (keys.size() == 1 && out.contains(keys[0])) return std::move(out[keys[0]]);
  Json only = Json::object();
  for (const auto& k : keys) {
    if (out.contains(k)) only[k] = std::move(out[k]);
  }
  return only;
}

Expected<Json> ChainRegistry::invoke(const std::string& name, const Json& input, const RunConfig& config) const {
  auto e = find(name);
  if (!e.ok()) return e.error();
  return guarded([&] { return shape_output(*e->runnable, e->runnable->invoke(input, config)); });
}

Expected<std::vector<Json>> ChainRegistry::batch(const std::string& name, const std::vector<Json>& inputs,
                                                 const RunConfig& config) const {
  auto e = find(name);
  if (!e.ok()) return e.error();
  auto results = e->runnable->batch_each(inputs, config);
  std::vector<Json> out;
  out.reserve(results.size());
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].ok()) {
      const Error& err = results[i].error();
      return Error(err.code(), fmt::format("input {}: {}", i, err.message()));
    }
    out.push_back(shape_output(*e->runnable, std::move(*results[i])));
  }
  return out;
}

Expected<std::vector<Expected<Json>>> ChainRegistry::batch_each(const std::string& name,
                                                                const std::vector<Json>& inputs,
                                                                const RunConfig& config) const {
  auto e = find(name);
  if (!e.ok()) return e.error();
  auto results = e->runnable->batch_each(inputs, config);
  for (auto& r : results) {
    if (r.ok()) r = shape_output(*e->runnable, std::move(*r));
  }
  return results;
}

Expected<Json> ChainRegistry::stream(const std::string& name, const Json& input, const ChunkCallback& on_chunk,
                                     const RunConfig& config) const {
  auto e = find(name);
  if (!e.ok()) return e.error();
  return guarded([&] {
    // With run events, the root run is the chain under its registered name, with the output as
    // the caller gets it (the runnable's own run is its child).
    RunScope root(config, name, "chain", input);
    try {
      Json out = shape_output(*e->runnable, e->runnable->stream(
                                                input,
                                                [&](const Json& chunk) {
                                                  root.stream(chunk);
                                                  if (on_chunk) on_chunk(chunk);
                                                },
                                                root.config()));
      root.end(out);
      return out;
    } catch (const Error& err) {
      root.fail(err.message());
      throw;
    }
  });
}

Expected<Json> ChainRegistry::input_schema(const std::string& name) const {
  auto e = find(name);
  if (!e.ok()) return e.error();
  return guarded([&] {
    Json s = e->runnable->input_schema();
    s["title"] = name + "_input";
    return s;
  });
}

Expected<Json> ChainRegistry::output_schema(const std::string& name) const {
  auto e = find(name);
  if (!e.ok()) return e.error();
  return guarded([&] {
    Json s = e->runnable->output_schema();
    if (auto* c = dynamic_cast<const Chain*>(e->runnable.get())) {
      auto keys = c->output_keys();
      if (keys.size() == 1) s = c->output_key_schema(keys[0]);
    }
    s["title"] = name + "_output";
    return s;
  });
}

Expected<RunConfig> ChainRegistry::config_from_json(const Json& j) {
  RunConfig c;
  if (j.is_null()) return c;
  if (!j.is_object()) return Error(ErrorCode::kInvalidArgument, "config must be an object");
  if (j.contains("session_id")) {
    if (!j["session_id"].is_string()) return Error(ErrorCode::kInvalidArgument, "config.session_id must be a string");
    c.session_id = j["session_id"].get<std::string>();
  }
  if (j.contains("metadata")) {
    if (!j["metadata"].is_object()) return Error(ErrorCode::kInvalidArgument, "config.metadata must be an object");
    c.metadata = j["metadata"];
  }
  if (j.contains("max_concurrency")) {
    if (!j["max_concurrency"].is_number_integer() || j["max_concurrency"].get<int>() < 1) {
      return Error(ErrorCode::kInvalidArgument, "config.max_concurrency must be an integer >= 1");
    }
    c.max_concurrency = j["max_concurrency"].get<int>();
  }
  return c;
}

}  // namespace llmchain::chain
