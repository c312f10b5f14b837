// llmchain tokenize / detokenize: text <-> token ids with a model's (or a vocab-only
// GGUF's) tokenizer, as llama-tokenize does it: special tokens added as the metadata
// asks, control tokens written in the text parsed.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>

#include "apps/command.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace llmchain::apps {
namespace {

struct TokenizeOptions {
  std::string model;
  std::string text;
  std::string file;
  bool from_stdin = false;
  bool no_bos = false;
  bool no_parse_special = false;
  bool ids_only = false;  // kept for compatibility: ids are the default
  bool pieces = false;
};

struct DetokenizeOptions {
  std::string model;
  std::vector<std::string> ids;
  bool remove_special = false;
  bool no_render_special = false;
};

std::shared_ptr<const tokenizer::Tokenizer> load_tokenizer(const std::string& path) {
  auto file = gguf::File::open(path);
  if (!file) throw file.error();
  auto tok = tokenizer::Tokenizer::from_gguf(**file);
  if (!tok) fail(tok.error().code(), "{}: {}", path, tok.error().message());
  return *tok;
}

int run_tokenize(const TokenizeOptions& o) {
  std::string text = o.text;
  if (!o.file.empty() || o.from_stdin) {
    std::ifstream in;
    if (!o.file.empty()) {
      in.open(o.file, std::ios::binary);
      if (!in) fail(ErrorCode::kNotFound, "cannot read '{}'", o.file);
    }
    std::istream& src = o.file.empty() ? std::cin : in;
    text.assign(std::istreambuf_iterator<char>(src), std::istreambuf_iterator<char>());
  }
  auto tok = load_tokenizer(o.model);
  std::vector<int32_t> ids = tok->encode(text, /*add_special=*/!o.no_bos, /*parse_special=*/!o.no_parse_special);
  nlohmann::json out = nlohmann::json::array();
  for (int32_t id : ids) {
    if (!o.pieces) {
      out.push_back(id);
    } else {
      // A piece may hold part of a UTF-8 character: dump() shows U+FFFD there.
      out.push_back({{"id", id}, {"piece", tok->token_to_piece(id, true)}});
    }
  }
  std::printf("%s\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
  return 0;
}

std::vector<int32_t> parse_ids(const std::vector<std::string>& args) {
  std::string all;
  for (const auto& a : args) all += a + " ";
  for (char& c : all) {
    if (c == '[' || c == ']' || c == ',') c = ' ';
  }
  std::istringstream in(all);
  std::vector<int32_t> ids;
  std::string word;
  while (in >> word) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(word, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != word.size() || v < INT32_MIN || v > INT32_MAX) usage_error("bad token id '{}'", word);
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}

int run_detokenize(const DetokenizeOptions& o) {
  std::vector<int32_t> ids = parse_ids(o.ids);
  auto tok = load_tokenizer(o.model);
  for (int32_t id : ids) {
    if (id < 0 || id >= tok->n_vocab()) {
      usage_error("token id {} is outside the vocabulary of {} (0..{})", id, o.model, tok->n_vocab() - 1);
    }
  }
  std::string text = tok->decode(ids, o.remove_special, !o.no_render_special);
  std::fwrite(text.data(), 1, text.size(), stdout);
  std::fputc('\n', stdout);
  return 0;
}

}  // namespace

LLMC_REGISTER_COMMAND(tokenize, [](CLI::App& app) -> CommandAction {
  auto o = std::make_shared<TokenizeOptions>();
  auto* sub =
      app.add_subcommand("tokenize", "Print the token ids of a text as a JSON array ([{id, piece}...] with --pieces)");
  sub->add_option("-m,--model", o->model, "GGUF model or vocab file")->required();
  sub->add_option("text", o->text, "Text to tokenize");
  sub->add_option("-f,--file", o->file, "Read the text from a file");
  sub->add_flag("--stdin", o->from_stdin, "Read the text from standard input");
  sub->add_flag("--no-bos", o->no_bos, "Do not add BOS/EOS (or CLS/SEP) tokens");
  sub->add_flag("--no-parse-special", o->no_parse_special, "Treat control tokens in the text as plain text");
  sub->add_flag("--ids", o->ids_only, "Print only the ids: [1, 2, 3] (the default)");
  sub->add_flag("--pieces", o->pieces, "Print [{id, piece}, ...]");
  return {sub, [o] { return run_tokenize(*o); }};
});

LLMC_REGISTER_COMMAND(detokenize, [](CLI::App& app) -> CommandAction {
  auto o = std::make_shared<DetokenizeOptions>();
  auto* sub = app.add_subcommand("detokenize", "Print the text of token ids (as arguments or a JSON array)");
  sub->add_option("-m,--model", o->model, "GGUF model or vocab file")->required();
  sub->add_option("ids", o->ids, "Token ids: 1 15043 or '[1, 15043]'")->required();
  sub->add_flag("--remove-special", o->remove_special, "Drop a leading BOS / trailing EOS the model adds");
  sub->add_flag("--no-render-special", o->no_render_special, "Print control tokens as nothing");
  return {sub, [o] { return run_detokenize(*o); }};
});

}  // namespace llmchain::apps
