#pragma once
// Recursive-descent parser from tokens to a Program, with Jinja2's operator
// precedence. Unknown filters and tests are reported at parse time, as Jinja2
// does at compile time.
#include <memory>
#include <string>
#include <vector>

#include "chat/ast.h"
#include "chat/lexer.h"

namespace llmchain::chat {

// Throws llmchain::Error "name:line: message".
std::unique_ptr<Program> parse_program(std::vector<Token> tokens, const std::string& name);

// Registries (defined with the implementations) used to validate names.
bool has_filter(const std::string& name);
bool has_test(const std::string& name);

}  // namespace llmchain::chat
