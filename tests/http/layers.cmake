# No call circle among the files of src/http/ (issue 10): reads the
# objects of sluice_lib with nm. Included OPTIONAL from tests/http/tests.cmake.
add_test(NAME http_layers COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/http/check_layers.py ${CMAKE_BINARY_DIR}/CMakeFiles/sluice_lib.dir)
