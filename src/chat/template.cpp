#include "chat/template.h"

#include "chat/interpreter.h"
#include "chat/lexer.h"
#include "chat/parser.h"

namespace llmchain::chat {

Expected<Template> Template::parse(std::string source, std::string name, const TemplateOptions& options) {
  return capture([&]() -> Template {
    LexOptions lex;
    lex.trim_blocks = options.trim_blocks;
    lex.lstrip_blocks = options.lstrip_blocks;
    lex.keep_trailing_newline = options.keep_trailing_newline;
    auto tokens = tokenize(source, name, lex);
    std::shared_ptr<const Program> program = parse_program(std::move(tokens), name);
    return Template(std::move(program), options);
  });
}

template <typename Json>
Expected<std::string> Template::render_json(const Json& context) const {
  return capture([&]() -> std::string {
    if (!context.is_object())
      fail(ErrorCode::kInvalidArgument, "{}: render context must be a JSON object", program_->name);
    Value ctx;
    try {
      ctx = from_json(context);
    } catch (const Error& e) {
      fail(e.code(), "{}: bad context: {}", program_->name, e.what());
    }
    RenderLimits limits;
    limits.max_output_bytes = options_.max_output_bytes;
    limits.max_list_items = options_.max_list_items;
    limits.max_loop_iterations = options_.max_loop_iterations;
    limits.max_call_depth = options_.max_call_depth;
    limits.max_work = options_.max_work;
    Interpreter interp(*program_, limits);
    return interp.render(ctx);
  });
}

Expected<std::string> Template::render(const nlohmann::json& context) const { return render_json(context); }

Expected<std::string> Template::render_ordered(const nlohmann::ordered_json& context) const {
  return render_json(context);
}

const std::string& Template::name() const { return program_->name; }

bool Template::handles_content_parts() const { return program_->mentions_text_type; }
bool Template::handles_tools() const { return program_->mentions_tools; }

}  // namespace llmchain::chat
