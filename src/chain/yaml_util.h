#pragma once
// Helpers for reading YAML with errors that name the file, line, column and key path.
// Internal to the chain module's loader.
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chain/language_model.h"

namespace llmchain::chain::yaml_util {

// Where a node is: file and dotted key path ("chains.writer.steps[1]").
struct Loc {
  std::string file;
  std::string path;
  Loc child(const std::string& key) const { return {file, path.empty() ? key : path + "." + key}; }
  Loc index(size_t i) const { return {file, path + "[" + std::to_string(i) + "]"}; }
};

// Throws Error(kInvalidArgument, "file:line:col: path: message"); n may be undefined (then the
// location is the file without a line).
[[noreturn]] void fail_at(const Loc& loc, const YAML::Node& n, const std::string& message);

void expect_map(const Loc& loc, const YAML::Node& n);
void expect_seq(const Loc& loc, const YAML::Node& n);
// Rejects keys outside `known` (typos) naming the known ones.
void check_keys(const Loc& loc, const YAML::Node& map, std::initializer_list<const char*> known);

std::string get_string(const Loc& loc, const YAML::Node& map, const char* key, const std::string& def,
                       bool required = false);
int64_t get_int(const Loc& loc, const YAML::Node& map, const char* key, int64_t def);
double get_double(const Loc& loc, const YAML::Node& map, const char* key, double def);
bool get_bool(const Loc& loc, const YAML::Node& map, const char* key, bool def);
// A list of strings (a single string is a one-element list); missing: empty.
std::vector<std::string> get_string_list(const Loc& loc, const YAML::Node& map, const char* key);

// Aliases are references: a 600-byte file can expand to billions of nodes ("billion laughs")
// or refer to itself (infinite depth), and every walk over it would then exhaust memory or the
// stack. Throws Error(kInvalidArgument, "file:line:col: ...") when the document, aliases
// followed, has more than max_nodes nodes or nests deeper than max_depth. Iterative.
void check_expansion(const std::string& file, const YAML::Node& root, size_t max_nodes = 200000, size_t max_depth = 64);

// Plain scalars become null/bool/int/float when they look like one; quoted ones stay strings.
nlohmann::json to_json(const YAML::Node& n);
LlmParams params_from(const Loc& loc, const YAML::Node& n);

}  // namespace llmchain::chain::yaml_util
