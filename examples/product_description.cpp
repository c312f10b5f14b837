// The seed example in C++: "Write a product description for {product}." through an LLMChain.
//
//   example_product_description "wool socks"                       # offline, scripted model
//   OPENAI_BASE_URL=http://127.0.0.1:8080/v1 example_product_description "wool socks"
//
// With OPENAI_BASE_URL set it calls that OpenAI-compatible server (an `llmchain serve`,
// llama.cpp, vLLM, OpenAI with OPENAI_API_KEY and OPENAI_MODEL).
#include <cstdio>
#include <cstdlib>
#include <string>

#include "chain/llm_chain.h"
#include "chain/openai_client.h"

using namespace llmchain;
using namespace llmchain::chain;

int main(int argc, char** argv) {
  std::string product = argc > 1 ? argv[1] : "colorful socks";

  LanguageModelPtr llm;
  if (const char* url = std::getenv("OPENAI_BASE_URL")) {
    OpenAIOptions o;
    o.base_url = url;
    if (const char* key = std::getenv("OPENAI_API_KEY")) o.api_key = key;
    if (const char* model = std::getenv("OPENAI_MODEL")) o.model = model;
    llm = std::make_shared<OpenAIClient>(o);
  } else {
    llm = std::make_shared<FakeLLM>(std::vector<std::string>{
        "Step into comfort with these vibrant socks: soft cotton, reinforced heels, and colors that make every day "
        "brighter."});
  }

  // The classic form: LLMChain(llm, prompt, output_key).
  auto prompt = PromptTemplate::from_template("Write a product description for {product}.");
  LLMChainOptions options;
  options.params.temperature = 0.7f;
  options.params.max_tokens = 200;
  LLMChain chain(llm, prompt, "text", options);

  // Errors on the invoke path are llmchain::Error; try_invoke returns them as values.
  auto out = chain.try_invoke({{"product", product}});
  if (!out.ok()) {
    std::fprintf(stderr, "error: %s\n", out.error().message().c_str());
    return 1;
  }
  std::printf("%s\n", (*out)["text"].get<std::string>().c_str());

  // The same chain composed with `|`, streamed token by token.
  auto pipeline = prompt | llm->bind(options.params) | std::make_shared<StrOutputParser>(true);
  pipeline->stream({{"product", product}}, [](const Json& chunk) {
    std::fputs(chunk.get<std::string>().c_str(), stdout);
    std::fflush(stdout);
  });
  std::printf("\n");
  return 0;
}
