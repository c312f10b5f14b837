#pragma once
// The server's names for the transport's request and response types (http/types.h).
#include "http/types.h"

namespace llmchain::server {

using http::ChunkWriter;
using http::HttpRequest;
using http::HttpResponse;
using http::StreamBody;

}  // namespace llmchain::server
