# Unit tests of the HTTP request parsers that are ours (src/http/http_parse.c),
# and the replay of the HTTP fuzz corpus (fuzz/http_corpus) through the fuzz
# harness in the normal run; the replay fails when the corpus is missing.
sluice_unit_test(test_http_parse tests/http/test_parse.c)
add_executable(fuzz_http_replay fuzz/fuzz_http.c fuzz/replay_dirs.c)
target_include_directories(fuzz_http_replay PRIVATE src)
target_link_libraries(fuzz_http_replay PRIVATE sluice_lib)
add_test(NAME fuzz_http_corpus_replay COMMAND fuzz_http_replay ${CMAKE_SOURCE_DIR}/fuzz/http_corpus)
if(SLUICE_FUZZ)
  add_executable(fuzz_http fuzz/fuzz_http.c)
  target_include_directories(fuzz_http PRIVATE src)
  target_compile_options(fuzz_http PRIVATE -fsanitize=fuzzer)
  target_link_options(fuzz_http PRIVATE -fsanitize=fuzzer)
  target_link_libraries(fuzz_http PRIVATE sluice_lib)
endif()
# the gate's request framing (src/http/http_frame.c)
sluice_unit_test(test_http_frame tests/http/test_frame.c)
