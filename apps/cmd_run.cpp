// llmchain run: generate a continuation of a prompt. Only the generated text
// goes to stdout; logs and the speed line go to stderr.
#include <fmt/ranges.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "apps/command.h"
#include "base/log.h"
#include "chat/chat_template.h"
#include "engine/local_engine.h"

namespace llmchain::apps {
namespace {

struct RunOptions {
  std::string model, prompt, prompt_file, json_schema_file, grammar_file, chat_template, backend = "cpu";
  int32_t n_predict = 128;
  int32_t threads = 0;
  int32_t ctx = 0;
  float temp = 0.8f, top_p = 0.95f, min_p = 0.05f, typical_p = 1.0f, repeat_penalty = 1.0f;
  float frequency_penalty = 0.0f, presence_penalty = 0.0f;
  int32_t top_k = 40, repeat_last_n = 64;
  int64_t seed = -1;
  std::vector<std::string> stop;
  bool no_bos = false, ignore_eos = false, chat = false, verbose = false;
};

std::string read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorCode::kNotFound, "cannot read {} file '{}'", what, path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int run(const RunOptions& o) {
  if (o.verbose) {
    init_logging(LogFormat::kText, "info");
  } else {
    init_command_logging("warn");
  }
  if (!o.chat_template.empty() && !chat::builtin_template_source(o.chat_template).ok()) {
    usage_error("--chat-template: no built-in template named '{}' (known: {})", o.chat_template,
                fmt::join(chat::builtin_template_names(), ", "));
  }
  engine::EngineOptions eo;
  eo.n_parallel = 1;
  eo.n_ctx = o.ctx;
  eo.n_threads = o.threads;
  eo.chat_template = o.chat_template;
  eo.backend = o.backend;
  auto eng = engine::LocalEngine::load(o.model, eo).value();

  std::string prompt = o.prompt;
  if (!o.prompt_file.empty()) prompt = read_file(o.prompt_file, "prompt");
  if (o.chat) prompt = eng->apply_chat_template({engine::ChatMessage{"user", prompt}}, true, "", nullptr).value();

  engine::GenerateRequest req;
  req.prompt = eng->tokenize(prompt, !o.no_bos, true).value();
  if (req.prompt.empty()) fail(ErrorCode::kInvalidArgument, "the prompt is empty and the model adds no BOS token");
  req.max_tokens = o.n_predict;
  req.stop = o.stop;
  req.ignore_eos = o.ignore_eos;
  auto& s = req.sampling;
  s.temperature = o.temp;
  s.top_k = o.top_k;
  s.top_p = o.top_p;
  s.min_p = o.min_p;
  s.typical_p = o.typical_p;
  s.repeat_penalty = o.repeat_penalty;
  s.frequency_penalty = o.frequency_penalty;
  s.presence_penalty = o.presence_penalty;
  s.penalty_last_n = o.repeat_last_n;
  if (o.seed >= 0) s.seed = static_cast<uint64_t>(o.seed);
  if (!o.json_schema_file.empty()) {
    std::string text = read_file(o.json_schema_file, "JSON schema");
    auto j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded()) fail(ErrorCode::kInvalidArgument, "'{}' is not valid JSON", o.json_schema_file);
    req.constraint.json_schema = std::move(j);
  }
  if (!o.grammar_file.empty()) req.constraint.grammar = read_file(o.grammar_file, "grammar");

  auto res = eng->generate(req,
                           [](const engine::TokenEvent& ev) {
                             if (!ev.text.empty()) {
                               std::fwrite(ev.text.data(), 1, ev.text.size(), stdout);
                               std::fflush(stdout);
                             }
                             return true;
                           })
                 .value();
  const double gen_s = res.total_s - res.time_to_first_token_s;
  std::fprintf(stderr,
               "\n[prompt: %d tokens in %.1f ms (%.1f tok/s) | generated: %d tokens in %.1f ms (%.1f tok/s) | %s]\n",
               res.prompt_tokens, res.time_to_first_token_s * 1e3,
               res.prompt_tokens / std::max(1e-9, res.time_to_first_token_s), res.completion_tokens, gen_s * 1e3,
               res.completion_tokens > 1 ? (res.completion_tokens - 1) / std::max(1e-9, gen_s) : 0.0,
               engine::to_string(res.finish_reason));
  return 0;
}

LLMC_REGISTER_COMMAND(run, [](CLI::App& app) -> CommandAction {
  auto o = std::make_shared<RunOptions>();
  auto* sub = app.add_subcommand("run", "Generate text from a prompt (continuation to stdout)");
  sub->add_option("-m,--model", o->model, "GGUF model file")->required()->envname("LLMCHAIN_MODEL");
  add_backend_option(sub, o->backend);
  sub->add_option("-p,--prompt", o->prompt, "prompt text");
  sub->add_option("-f,--file", o->prompt_file, "read the prompt from a file");
  sub->add_option("-n,--n-predict", o->n_predict, "tokens to generate (-1: until end or context full)");
  sub->add_option("--temp", o->temp, "temperature (0: greedy)");
  sub->add_option("--seed", o->seed, "random seed (default: random)");
  sub->add_option("-t,--threads", o->threads, "threads (default: all cores)");
  sub->add_option("-c,--ctx-size", o->ctx, "context size (default: the model's, at most 4096)");
  sub->add_option("--top-k", o->top_k, "top-k (0: off)");
  sub->add_option("--top-p", o->top_p, "top-p (1: off)");
  sub->add_option("--min-p", o->min_p, "min-p (0: off)");
  sub->add_option("--typical", o->typical_p, "typical-p (1: off)");
  sub->add_option("--repeat-penalty", o->repeat_penalty, "repetition penalty (1: off)");
  sub->add_option("--repeat-last-n", o->repeat_last_n, "window of the penalties (-1: whole context)");
  sub->add_option("--frequency-penalty", o->frequency_penalty, "OpenAI frequency penalty");
  sub->add_option("--presence-penalty", o->presence_penalty, "OpenAI presence penalty");
  sub->add_option("--stop", o->stop, "stop string (repeatable)");
  sub->add_option("--json-schema", o->json_schema_file, "constrain output to this JSON Schema file");
  sub->add_option("--grammar", o->grammar_file, "constrain output to this GBNF grammar file");
  sub->add_option("--chat-template", o->chat_template, "built-in chat template name (with --chat)");
  sub->add_flag("--chat", o->chat, "wrap the prompt as a user message with the chat template");
  sub->add_flag("--no-bos", o->no_bos, "do not add BOS");
  sub->add_flag("--ignore-eos", o->ignore_eos, "keep generating past end-of-generation tokens");
  sub->add_flag("-v,--verbose", o->verbose, "log loading details");
  return {sub, [o] { return run(*o); }};
});

}  // namespace
}  // namespace llmchain::apps
