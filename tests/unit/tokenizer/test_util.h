#pragma once
// Helpers shared by the tokenizer tests: vocab paths, loading, building small vocabs.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/mmap_file.h"
#include "gguf/gguf.h"
#include "tokenizer/tokenizer.h"

namespace llmchain::tokenizer::test {

inline std::string vocab_path(const std::string& family) {
  return std::string(LLMCHAIN_SHARED_DIR) + "/testdata/tokenizer/ggml-vocab-" + family + ".gguf";
}

// Loads (once per process) the tokenizer of a vocab file; nullptr with a test failure if it cannot.
inline std::shared_ptr<const Tokenizer> load(const std::string& path) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const Tokenizer>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(path);
  if (it != cache.end()) return it->second;
  auto file = gguf::File::open(path);
  if (!file) {
    ADD_FAILURE() << "cannot open " << path << ": " << file.error().message();
    return nullptr;
  }
  auto tok = Tokenizer::from_gguf(**file);
  if (!tok) {
    ADD_FAILURE() << "cannot load tokenizer " << path << ": " << tok.error().message();
    return nullptr;
  }
  cache[path] = *tok;
  return *tok;
}

inline std::string ids_str(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s.push_back(' ');
    s.append(std::to_string(ids[i]));
  }
  s.push_back(']');
  return s;
}

// A tokenizer from metadata built in memory (the buffer outlives the File).
struct MemVocab {
  std::vector<uint8_t> bytes;
  std::shared_ptr<gguf::File> file;
  std::shared_ptr<const Tokenizer> tok;
};

inline Expected<std::shared_ptr<const Tokenizer>> build(const gguf::Writer& w, std::shared_ptr<MemVocab>* keep) {
  auto mv = std::make_shared<MemVocab>();
  mv->bytes = w.to_bytes();
  auto file = gguf::File::parse(MappedFile::borrow(mv->bytes.data(), mv->bytes.size()));
  if (!file) return file.error();
  mv->file = *file;
  auto tok = Tokenizer::from_gguf(*mv->file);
  if (tok) mv->tok = *tok;
  *keep = mv;
  return tok;
}

}  // namespace llmchain::tokenizer::test
