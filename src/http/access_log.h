#pragma once
// One line per finished HTTP request. With LogFormat::kJson each line is one
// JSON object with the fields as keys (not nested in "msg"), so log shippers
// can index request_id, route, status and duration directly.
#include <string>

#include "base/log.h"

namespace llmchain::http {

struct AccessLogEntry {
  std::string request_id;
  std::string method;
  std::string path;
  std::string route;
  int status = 0;
  double duration_ms = 0;
  std::string remote_addr;
};

void write_access_log(LogFormat format, const AccessLogEntry& e);

}  // namespace llmchain::http
