# Third-party libraries, all from Debian's archive (scripts/setup.sh installs them).
find_package(Threads REQUIRED)
find_package(fmt REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(CLI11 CONFIG REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(ICU REQUIRED COMPONENTS uc i18n)
# RE2: linear-time regular expressions for user-supplied patterns (chain guards).
find_package(PkgConfig REQUIRED)
pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)  # chain memory in Redis
# gRPC between gateway and engines (src/rpc, proto/): libgrpc++-dev, protobuf-compiler-grpc.
find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(httplib CONFIG QUIET)
if(NOT httplib_FOUND)
  # Debian ships cpp-httplib as a compiled library (libcpp-httplib.so) built with
  # OpenSSL, zlib and brotli; every user must see the same feature macros because
  # the Client/Server class layouts depend on them.
  find_path(HTTPLIB_INCLUDE_DIR httplib.h REQUIRED)
  find_library(LLMCHAIN_CPP_HTTPLIB_LIB cpp-httplib REQUIRED)
  add_library(httplib::httplib INTERFACE IMPORTED)
  target_include_directories(httplib::httplib INTERFACE ${HTTPLIB_INCLUDE_DIR})
  target_link_libraries(httplib::httplib INTERFACE ${LLMCHAIN_CPP_HTTPLIB_LIB} OpenSSL::SSL OpenSSL::Crypto)
  target_compile_definitions(httplib::httplib INTERFACE CPPHTTPLIB_OPENSSL_SUPPORT CPPHTTPLIB_ZLIB_SUPPORT
                                                        CPPHTTPLIB_BROTLI_SUPPORT)
endif()
if(LLMCHAIN_TESTS)
  find_package(GTest REQUIRED)
endif()
if(LLMCHAIN_BENCH)
  find_package(benchmark REQUIRED)
endif()
